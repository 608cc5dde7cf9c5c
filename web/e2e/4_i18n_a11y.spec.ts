// Scenario 6 of the panel's issue: the language switch to Japanese and back,
// and axe-core on the list, server and console pages: no serious or critical
// violation (the lesser ones are printed).
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { expect, test } from './support/fixtures';
import { signIn } from './support/signin';

// @axe-core/playwright is typed against the newest playwright-core (its peer
// dependency), @playwright/test's Page against its own: the same object.
type AxePage = ConstructorParameters<typeof AxeBuilder>[0]['page'];

async function expectNoSeriousViolations(page: Page, what: string): Promise<void> {
  const results = await new AxeBuilder({ page: page as unknown as AxePage }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of results.violations) {
    console.log(`axe ${what}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.length}: ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`);
  }
  expect(
    serious.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    `serious or critical axe violations on the ${what}`,
  ).toEqual([]);
}

test('6a. the language switch: Japanese and back to English', async ({ page, kumod }) => {
  await signIn(page, kumod.token);
  const sw = page.getByTestId('lang-switch');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByTestId('sign-out')).toHaveText('Sign out');

  await sw.selectOption('ja');
  await expect(page.locator('html')).toHaveAttribute('lang', 'ja');
  await expect(page.getByTestId('sign-out')).toHaveText('サインアウト');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('サーバー');
  // The pick is kept across a reload.
  await page.reload();
  await expect(page.locator('html')).toHaveAttribute('lang', 'ja');
  await expect(page.getByTestId('sign-out')).toHaveText('サインアウト');

  await page.getByTestId('lang-switch').selectOption('en');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByTestId('sign-out')).toHaveText('Sign out');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Servers');
});

test('6b. axe-core finds no serious violation on the list, server and console pages', async ({ page, api, kumod }) => {
  const { name } = await api.someRunning('look1');
  await signIn(page, kumod.token);
  await expect(page.getByTestId('server-list')).toBeVisible();
  await expect(page.locator(`[data-testid="server-row"][data-server="${name}"]`)).toBeVisible();
  await expectNoSeriousViolations(page, 'list page');

  await page.goto(`/#/servers/${name}`);
  await expect(page.getByTestId('server-page')).toBeVisible();
  await expect(page.getByTestId('charts')).toBeVisible();
  await expectNoSeriousViolations(page, 'server page');

  await page.goto(`/#/servers/${name}/console`);
  await expect(page.getByTestId('console-page')).toBeVisible();
  await expect(page.getByTestId('console-state')).toHaveAttribute('data-state', 'live');
  await expectNoSeriousViolations(page, 'console page');
});
