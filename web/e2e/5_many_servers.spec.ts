// A list of 1,000 servers. kumod here runs a few real guests, not 1,000, so
// the page's GET /v1/servers answer gets stopped servers added in the
// browser (page.route) up to 1,000, named a0000, a0001, … so that they sort
// before every real one: the real servers are at the bottom of the list,
// and their rows still follow kumod's real watch stream. The first rows show
// at once and before the rest, every row comes, a real server at the bottom
// is reached by scrolling, and its row updates live when it is force
// stopped and started.
import type { Page } from '@playwright/test';
import type { Server } from '../src/api';
import { kListComplete, kListRendered } from '../src/timing';
import { expect, test } from './support/fixtures';
import { serverRow } from './support/list';
import { signIn } from './support/signin';

const kServers = 1000;

function addedServer(i: number): Server {
  const at = new Date(Date.UTC(2026, 0, 1)).toISOString();
  return {
    name: `a${String(i).padStart(4, '0')}`,
    status: 'stopped',
    status_reason: 'stopped by the user',
    power: 'off',
    agent: 'unknown',
    task: 'none',
    image: 'kumo-guest',
    vcpus: 1,
    memory_mib: 256,
    disk_gib: 2,
    has_ssh_key: false,
    user_data_bytes: 0,
    created: at,
    updated: at,
    agent_last_seen: null,
    task_started: null,
    task_deadline: null,
    qemu_pid: null,
    boot_mode: 'normal',
    ssh_port: null,
    top_finding: null,
  };
}

// Every GET /v1/servers of the page answers kumod's servers and added ones,
// 1,000 in all.
async function padServerList(page: Page): Promise<void> {
  await page.route(
    (url) => url.pathname === '/v1/servers',
    async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      const response = await route.fetch();
      const body = (await response.json()) as { servers: Server[] };
      const added = Array.from({ length: kServers - body.servers.length }, (_, i) => addedServer(i));
      await route.fulfill({ response, json: { servers: [...added, ...body.servers] } });
    },
  );
}

// The latest entry of a user timing of the panel's, with its detail.
function markDetail(page: Page, name: string): Promise<unknown> {
  return page.evaluate((name) => {
    const marks = performance.getEntriesByName(name, 'mark') as PerformanceMark[];
    return marks.length > 0 ? marks[marks.length - 1].detail : null;
  }, name);
}

test('5. a list of 1,000 servers: the first rows at once, a server at the bottom reached and updated live', async ({ page, api, kumod }) => {
  const far = await api.someRunning('many1');
  await padServerList(page);
  await signIn(page, kumod.token);

  const first = serverRow(page, 'a0000');
  await expect(first).toBeInViewport();
  await expect(first.getByTestId('status')).toHaveAttribute('data-status', 'stopped');
  await expect(first.getByTestId('actions').getByTestId('action-start')).toBeEnabled();
  // The screenful came first, with fewer rows than the list holds.
  await expect.poll(() => markDetail(page, kListRendered)).toMatchObject({ servers: kServers });
  const rendered = (await markDetail(page, kListRendered)) as { rows: number; servers: number };
  expect(rendered.rows).toBeGreaterThan(0);
  expect(rendered.rows).toBeLessThan(kServers);

  await expect.poll(() => markDetail(page, kListComplete)).toBe(kServers);
  await expect(page.getByTestId('server-row')).toHaveCount(kServers);
  await expect(page.getByTestId('server-list')).not.toHaveAttribute('aria-busy', 'true');

  const row = serverRow(page, far.name);
  await expect(row).not.toBeInViewport();
  await row.scrollIntoViewIfNeeded();
  await expect(row).toBeInViewport();
  await expect(row).toHaveAttribute('data-status', 'running');

  await api.must('POST', `/v1/servers/${far.name}/actions`, { action: 'stop', force: true });
  await expect(row).toHaveAttribute('data-status', 'stopped');
  await expect(row.getByTestId('status')).toHaveAttribute('data-status', 'stopped');
  await api.must('POST', `/v1/servers/${far.name}/actions`, { action: 'start' });
  await expect(row).not.toHaveAttribute('data-status', 'stopped');
  await expect(row.getByTestId('status')).not.toHaveAttribute('data-status', 'stopped');
});
