// The server list's parts for one server, by the panel's data-testids.
import type { Page } from '@playwright/test';

export function serverRow(page: Page, name: string) {
  return page.locator(`[data-testid="server-row"][data-server="${name}"]`);
}

// Records, in the page, the first moment (Date.now()) that the row of `name`
// shows `status` (the row's data-status and its status badge), whatever
// re-renders it; read with statusSeenAt.
export async function watchRowStatus(page: Page, name: string, status: string): Promise<void> {
  await page.evaluate(
    ([name, status]) => {
      const w = window as unknown as { __kumoSeen?: Record<string, number> };
      w.__kumoSeen = w.__kumoSeen ?? {};
      const key = `${name}:${status}`;
      delete w.__kumoSeen[key];
      const selector = `[data-testid="server-row"][data-server="${name}"][data-status="${status}"]`;
      const spinner = `${selector} [data-testid="status"][data-status="${status}"]`;
      const check = () => {
        if (w.__kumoSeen![key] === undefined && document.querySelector(selector) && document.querySelector(spinner)) {
          w.__kumoSeen![key] = Date.now();
          observer.disconnect();
        }
      };
      const observer = new MutationObserver(check);
      observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
      check();
    },
    [name, status],
  );
}

export async function statusSeenAt(page: Page, name: string, status: string): Promise<number | undefined> {
  return page.evaluate(
    (key) => (window as unknown as { __kumoSeen?: Record<string, number> }).__kumoSeen?.[key],
    `${name}:${status}`,
  );
}
