// The in-browser serial console (xterm.js) as a user sees it: its visible
// text (xterm's DOM rows, one line each), typing into it, logging in.
import type { Locator, Page } from '@playwright/test';
import { expect } from './fixtures';

export function consoleOf(page: Page): Locator {
  return page.getByTestId('console');
}

// The terminal's visible rows, one line each (non-breaking spaces as spaces).
export async function consoleText(page: Page): Promise<string> {
  return consoleOf(page)
    .locator('.xterm-rows')
    .evaluate((rows) =>
      Array.from(rows.children)
        .map((row) => (row.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd())
        .join('\n'),
    );
}

export async function expectConsoleText(page: Page, text: string | RegExp, timeoutMs = 30_000): Promise<void> {
  await expect
    .poll(() => consoleText(page), { timeout: timeoutMs, message: `console shows ${String(text)}` })
    .toMatch(typeof text === 'string' ? new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : text);
}

// Types a line into the console (focused by a click, as a user would).
export async function typeLine(page: Page, line: string): Promise<void> {
  await consoleOf(page).click();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

// Logs in at the guest's getty: Enter until the last line is a login
// prompt, then the user and the password, until a root shell prompt.
export async function consoleLogin(page: Page, user: string, password: string, timeoutMs = 120_000): Promise<void> {
  const lastLine = async () => (await consoleText(page)).split('\n').filter((l) => l.trim()).pop() ?? '';
  const deadline = Date.now() + timeoutMs;
  await consoleOf(page).click();
  while (!/login: *$/.test(await lastLine())) {
    if (Date.now() > deadline) throw new Error(`no login prompt on the console:\n${await consoleText(page)}`);
    await page.keyboard.press('Enter');
    await page.waitForTimeout(1000); // the getty's answer; polled, not a wait for a result
  }
  await page.keyboard.type(user);
  await page.keyboard.press('Enter');
  await expect.poll(lastLine, { timeout: 20_000 }).toMatch(/assword: *$/);
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
  await expect.poll(lastLine, { timeout: 20_000 }).toMatch(/# *$/);
}
