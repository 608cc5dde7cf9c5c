// The language switch (English / 日本語): a labelled <select>; the pick is
// remembered and every page re-renders in it (i18n.ts).
import { h } from '../dom';
import { kLanguages, language, setLanguage, t, type Lang } from '../i18n';

export function languageSwitch(id: string): HTMLElement[] {
  const select = h('select', { id, 'data-testid': 'lang-switch' });
  for (const lang of kLanguages) {
    select.append(h('option', { value: lang, selected: lang === language() }, t('lang.' + lang)));
  }
  select.addEventListener('change', () => setLanguage(select.value as Lang));
  return [h('label', { for: id, class: 'visually-hidden' }, t('app.language')), select];
}
