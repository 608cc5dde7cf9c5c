// Scenario 4 of the panel's issue, the classic outage: the OOM killer takes
// sshd (dropbear) and then a memory hog in a real guest. The list's row and
// the server page show the oom_kill finding with its victims, and the memory
// chart marks the kill. Saves docs/screenshots/server.png (the whole page).
import { join } from 'node:path';
import { expect, figure, test } from './support/fixtures';
import { oomKillSshd } from './support/guest_faults';
import { serverRow } from './support/list';
import { kScreenshotDir } from './support/paths';
import { signIn } from './support/signin';

const kName = 'oom1';

test('4. an OOM kill: the row and the server page name the victims, the memory chart marks it', async ({ page, api, kumod }) => {
  await api.ensureRunning(kName);
  await signIn(page, kumod.token);
  const row = serverRow(page, kName);
  await expect(row).toHaveAttribute('data-status', 'running');

  const fault = await oomKillSshd(api, kName);
  const line = await fault.waitLine(120_000);
  const lineAt = Date.now();
  console.log(`kernel: ${line}`);

  // The row: the finding and its first victim (dropbear; the hog, busybox
  // tail, may come seconds later). The server stays running (our agent is
  // not a victim), so this is the row of a running server. Soft: the server
  // page's part still runs if the row falls short.
  const top = row.getByTestId('top-finding');
  await expect.soft(top, "the row's top finding").toHaveAttribute('data-code', 'oom_kill', { timeout: 30_000 });
  if ((await top.count()) > 0) {
    figure(`oom_kill on the list's row ${((Date.now() - lineAt) / 1000).toFixed(1)} s after the kernel's line reached the console log`);
  }
  await expect.soft(top, "the row names the victim").toContainText('dropbear', { timeout: 30_000 });
  // A page opened after the kill shows it too (the list carries each row's
  // top finding), though the server runs.
  await page.reload();
  await expect(serverRow(page, kName).getByTestId('top-finding')).toHaveAttribute('data-code', 'oom_kill');

  await row.getByRole('link', { name: kName }).click();
  const server = page.getByTestId('server-page');
  await expect(server).toBeVisible();
  const finding = server.getByTestId('diagnosis').locator('[data-testid="finding"][data-code="oom_kill"]');
  await expect(finding).toBeVisible();
  await expect(finding).toHaveAttribute('data-severity', 'critical');
  const summary = finding.getByTestId('finding-summary');
  await expect(summary).toContainText('dropbear (pid ');
  await expect(summary).toContainText('tail (pid ', { timeout: 40_000 });
  await expect(finding.getByTestId('evidence').first()).toBeVisible();
  await expect(server.getByTestId('diagnosis-clear')).toHaveCount(0);

  const marker = server.getByTestId('chart-memory').locator('[data-testid="chart-marker"][data-kind="oom"]');
  await expect(marker.first()).toBeAttached({ timeout: 60_000 });
  // The whole page (1280 wide): header, diagnosis, charts and timeline.
  await page.screenshot({ path: join(kScreenshotDir, 'server.png'), fullPage: true });
});
