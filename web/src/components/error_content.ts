// A failed request as the panel shows it wherever one is shown (the actions
// bar, a finding's action, the create and password dialogs): kumod's
// message, then its hint ("Hint: …"), as text only.
import { ApiError } from '../api';
import { h, type Child } from '../dom';
import { t } from '../i18n';

export function errorContent(err: unknown): Child[] {
  if (!(err instanceof ApiError)) return [String(err)];
  return [err.message, err.hint ? h('span', { class: 'hint' }, ' ', t('error.hint', { hint: err.hint })) : null];
}
