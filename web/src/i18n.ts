// Every string the panel shows comes from the translation files
// (i18n/en/*.json, i18n/ja/*.json; the same keys in both, checked by
// test/i18n.test.ts). The language follows the browser's until the user
// picks one with the switch; the pick is remembered in localStorage.
// Text that comes from kumod (reasons, findings, evidence) is shown as sent.
import enCommon from './i18n/en/common.json';
import enList from './i18n/en/list.json';
import enServer from './i18n/en/server.json';
import jaCommon from './i18n/ja/common.json';
import jaList from './i18n/ja/list.json';
import jaServer from './i18n/ja/server.json';

export type Lang = 'en' | 'ja';
export const kLanguages: Lang[] = ['en', 'ja'];

type Table = Record<string, string>;
export const kTables: Record<Lang, Table> = {
  en: { ...enCommon, ...enList, ...enServer },
  ja: { ...jaCommon, ...jaList, ...jaServer },
};

const kStorageKey = 'kumo.lang';
let current: Lang = 'en';
const listeners = new Set<() => void>();

export function pickLanguage(stored: string | null, browser: readonly string[]): Lang {
  if (stored === 'en' || stored === 'ja') return stored;
  for (const tag of browser) {
    const base = tag.toLowerCase().split('-')[0];
    if (base === 'ja') return 'ja';
    if (base === 'en') return 'en';
  }
  return 'en';
}

export function initLanguage(): void {
  let stored: string | null = null;
  try {
    stored = localStorage.getItem(kStorageKey);
  } catch {
    stored = null;
  }
  current = pickLanguage(stored, navigator.languages ?? [navigator.language]);
  document.documentElement.lang = current;
}

export function language(): Lang {
  return current;
}

export function setLanguage(lang: Lang): void {
  current = lang;
  document.documentElement.lang = lang;
  try {
    localStorage.setItem(kStorageKey, lang);
  } catch {
    // Private mode: the pick lasts for this page only.
  }
  listeners.forEach((l) => l());
}

export function onLanguageChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// t('list.title'), t('list.count', {n: 3}) with "{n} servers" in the table.
// A missing key shows as itself, so it is seen and fixed, never blank.
export function t(key: string, params: Record<string, string | number> = {}): string {
  const text = kTables[current][key] ?? kTables.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name: string) =>
    name in params ? String(params[name]) : m,
  );
}

// A chart axis's tick: hours and minutes, 24-hour, in the user's language.
export function formatAxisTime(ms: number): string {
  return new Date(ms).toLocaleTimeString(current === 'ja' ? 'ja-JP' : 'en-GB', {
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  });
}

// Dates and times in the user's language, in their time zone.
export function formatTime(ms: number | string): string {
  const d = new Date(ms);
  return d.toLocaleString(current === 'ja' ? 'ja-JP' : 'en-GB', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}
