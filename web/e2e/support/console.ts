// The in-browser serial console (xterm.js) as a user sees it: its visible
// text (xterm's DOM rows, one line each), typing into it, logging in.
// Logging in watches the console's WebSocket frames (ConsoleTap) to know
// when a prompt came: the guest's own console messages (kernel lines,
// init's) may come between and push it off the last line.
import type { Locator, Page, WebSocket } from '@playwright/test';
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

export async function expectConsoleText(page: Page, text: string, timeoutMs = 30_000): Promise<void> {
  await expect
    .poll(() => consoleText(page), { timeout: timeoutMs, message: `the console shows "${text}"` })
    .toContain(text);
}

// Types a line into the console (focused by a click, as a user would).
export async function typeLine(page: Page, line: string): Promise<void> {
  await consoleOf(page).click();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

// Everything the page's console WebSockets received. Create it before the
// page opens the console (before goto or reload).
export class ConsoleTap {
  private text = '';

  constructor(page: Page) {
    page.on('websocket', (ws: WebSocket) => {
      if (!ws.url().includes('/console')) return;
      ws.on('framereceived', ({ payload }) => {
        this.text += typeof payload === 'string' ? payload : payload.toString('utf8');
      });
    });
  }

  mark(): number {
    return this.text.length;
  }

  // Whether `re` matches what came after `mark`; waits up to `timeoutMs`.
  async waitFor(re: RegExp, mark: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (re.test(this.text.slice(mark))) return true;
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  tail(n = 2000): string {
    return this.text.slice(-n);
  }
}

// Logs in at the guest's getty as a user would: Enter until a login prompt
// answers, then the user and the password, until a root shell prompt ("# ").
// The prompts are looked for anywhere in what came after the keys were sent:
// a console message may follow a prompt on its line.
export async function consoleLogin(page: Page, tap: ConsoleTap, user: string, password: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await consoleOf(page).click();
  for (;;) {
    const mark = tap.mark();
    await page.keyboard.press('Enter');
    if (await tap.waitFor(/login: /, mark, 3000)) break;
    if (Date.now() > deadline) throw new Error(`no login prompt on the console; it said:\n${tap.tail()}`);
  }
  let mark = tap.mark();
  await page.keyboard.type(user);
  await page.keyboard.press('Enter');
  if (!(await tap.waitFor(/assword: ?/, mark, 20_000))) throw new Error(`no password prompt:\n${tap.tail()}`);
  mark = tap.mark();
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
  if (!(await tap.waitFor(/# /, mark, 20_000))) throw new Error(`no shell prompt after logging in:\n${tap.tail()}`);
}
