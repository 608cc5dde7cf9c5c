import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kTables, pickLanguage } from '../src/i18n';

test('English and Japanese have the same keys, none empty', () => {
  const en = Object.keys(kTables.en).sort();
  const ja = Object.keys(kTables.ja).sort();
  assert.deepEqual(ja, en);
  for (const [lang, table] of Object.entries(kTables)) {
    for (const [key, text] of Object.entries(table)) assert.ok(text.trim() !== '', `${lang} ${key} is empty`);
  }
});

test('placeholders match between languages', () => {
  const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const key of Object.keys(kTables.en)) {
    assert.deepEqual(names(kTables.ja[key]), names(kTables.en[key]), key);
  }
});

test('the language follows the pick, then the browser, then English', () => {
  assert.equal(pickLanguage('ja', ['en-US']), 'ja');
  assert.equal(pickLanguage(null, ['ja-JP', 'en']), 'ja');
  assert.equal(pickLanguage(null, ['fr-FR', 'en-GB']), 'en');
  assert.equal(pickLanguage(null, ['de']), 'en');
  assert.equal(pickLanguage('xx', ['ja']), 'ja');
});
