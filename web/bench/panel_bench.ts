// The panel benchmark (bench/README.md, "panel_bench"): the server list with
// N servers in Debian's Chromium, headless, driven by Playwright, against a
// kumod --driver fake of its own (no QEMU: each server is a real kumo-agent on
// the host). Measured inside the page with the Performance API, from the
// panel's own user timings (src/timing.ts):
//   - first render: navigation start → the first screenful of rows in the DOM
//     (kumo:list-rendered), over --loads reloads of the signed-in page; also
//     when all rows were (kumo:list-complete);
//   - row update: a watch message's arrival → its row updated
//     (kumo:watch-applied), for the messages that force stops and starts of a
//     few servers make, at least --updates of them.
// Both are measured twice in one run: first with --reference servers (the
// reference), then with --servers. Prints the figures and writes them as JSON
// (--json FILE) for bench/report.py. Exit status 0 when measured, 1 when a step
// failed, 2 on bad usage. kumod is stopped by its pid, the browser by
// Playwright (its own child), and no agent may be left running.
import { chromium, type Browser, type Page } from '@playwright/test';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KumodApi, type ServerRecord } from '../e2e/support/api';
import type { KumodInfo } from '../e2e/support/kumod_info';
import { alive, deleteServers, freePort, sleep, spawnKumod, stopKumod } from '../e2e/support/kumod_process';
import { kDistDir, kRepoDir, kumodPath } from '../e2e/support/paths';
import { kListComplete, kListRendered, kWatchApplied } from '../src/timing';

interface Options {
  kumod: string;
  chromium: string;
  servers: number;
  reference: number;
  loads: number;
  updates: number;
  json: string;
}

const kUsage =
  'usage: panel_bench [--kumod PATH] [--chromium PATH] [--servers N] [--reference N] ' +
  '[--loads N] [--updates N] [--json FILE]';

function parseOptions(args: string[]): Options | null {
  const o: Options = {
    kumod: kumodPath(),
    chromium: process.env.CHROMIUM ?? '/usr/bin/chromium',
    servers: 1000,
    reference: 10,
    loads: 5,
    updates: 20,
    json: '',
  };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) return null;
    if (flag === '--kumod') o.kumod = value;
    else if (flag === '--chromium') o.chromium = value;
    else if (flag === '--json') o.json = value;
    else if (['--servers', '--reference', '--loads', '--updates'].includes(flag)) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) return null;
      o[flag.slice(2) as 'servers' | 'reference' | 'loads' | 'updates'] = n;
    } else return null;
  }
  return o.reference < o.servers ? o : null;
}

// The q-th quantile (0..1), nearest rank, as bench/bench_figures.h does,
// to 0.1 ms (Chromium's timer resolution is coarser than the floats it gives).
function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.floor(q * sorted.length + 0.5);
  return tenths(sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]);
}

const tenths = (ms: number) => Math.round(ms * 10) / 10;

const name = (i: number) => `s${String(i).padStart(5, '0')}`;

// Starts kumod --driver fake serving the built panel, as bench/fake_kumod.h
// does for the C++ benchmarks.
async function startKumod(kumod: string): Promise<KumodInfo> {
  const tempDir = mkdtempSync(join(tmpdir(), 'kumo-panel-bench-'));
  // As root, the agents run as kumod's QEMU user, which must pass through.
  chmodSync(tempDir, 0o711);
  const stateDir = join(tempDir, 'state');
  const logPath = join(tempDir, 'kumod.log');
  const baseURL = `http://127.0.0.1:${await freePort()}`;
  const argv = [
    '--driver', 'fake',
    '--state-dir', stateDir,
    '--listen', baseURL.slice('http://'.length),
    '--image-dir', join(kRepoDir, 'tests/e2e/fake_image'),
    '--panel-dir', kDistDir,
    '--ssh-port-base', '0',
    '--guest-isolation', 'off',
  ];
  let pid = 0;
  try {
    await spawnKumod(kumod, argv, logPath, baseURL, (c) => (pid = c.pid ?? 0));
  } catch (err) {
    await stopKumod(pid);
    rmSync(tempDir, { recursive: true, force: true });
    throw err;
  }
  const token = readFileSync(join(stateDir, 'token'), 'utf8').trim();
  return { baseURL, token, stateDir, tempDir, logPath, pid };
}

async function servers(api: KumodApi): Promise<ServerRecord[]> {
  return ((await api.must('GET', '/v1/servers')) as { servers: ServerRecord[] }).servers;
}

// Creates servers up to `count` (one POST at a time) and waits until all run.
async function createUpTo(api: KumodApi, from: number, count: number): Promise<void> {
  for (let i = from; i < count; ++i) await api.must('POST', '/v1/servers', { name: name(i), image: 'fake' });
  const deadline = Date.now() + 60_000 + count * 500;
  for (;;) {
    const running = (await servers(api)).filter((s) => s.status === 'running').length;
    if (running >= count) return;
    if (Date.now() > deadline) throw new Error(`${running} of ${count} servers running after the deadline`);
    await sleep(1000);
  }
}

interface Timing {
  name: string;
  start: number;
  duration: number;
  detail: unknown;
}

// In every page, before the panel's code: records the panel's user timings
// (src/timing.ts keeps only the latest of each in the timeline).
function recordTimings(): void {
  const w = window as unknown as { __kumoTimings: Timing[] };
  w.__kumoTimings = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (!e.name.startsWith('kumo:')) continue;
      const detail = (e as PerformanceMark).detail as unknown;
      w.__kumoTimings.push({ name: e.name, start: e.startTime, duration: e.duration, detail });
    }
  }).observe({ entryTypes: ['mark', 'measure'] });
}

function timings(page: Page, name: string): Promise<Timing[]> {
  return page.evaluate(
    (name) => (window as unknown as { __kumoTimings: Timing[] }).__kumoTimings.filter((t) => t.name === name),
    name,
  );
}

interface Render {
  rendered: number; // navigation start → the first screenful of rows in the DOM
  complete: number; // navigation start → all rows in the DOM
  answered: number; // navigation start → GET /v1/servers answered
}

// When the page's GET /v1/servers had its answer (Resource Timing), ms since
// navigation start.
function listAnsweredAt(page: Page): Promise<number> {
  return page.evaluate(() => {
    const list = performance.getEntriesByType('resource').find((e) => new URL(e.name).pathname === '/v1/servers');
    return list ? (list as PerformanceResourceTiming).responseEnd : NaN;
  });
}

// The latest user timing `name`, waited for.
async function waitTiming(page: Page, name: string): Promise<Timing> {
  await page.waitForFunction(
    (name) => (window as unknown as { __kumoTimings: Timing[] }).__kumoTimings.some((t) => t.name === name),
    name,
  );
  return (await timings(page, name)).slice(-1)[0];
}

// Reloads the signed-in list `loads` times; each time, when the first
// screenful of its `count` servers' rows was in the DOM (checking that those
// rows are there), when all `count` were, and when the list's answer had come.
async function firstRenders(page: Page, count: number, loads: number): Promise<Render[]> {
  const samples: Render[] = [];
  for (let i = 0; i < loads; ++i) {
    await page.reload();
    const rendered = await waitTiming(page, kListRendered);
    const first = rendered.detail as { rows: number; servers: number };
    const shown = await page.getByTestId('server-row').count();
    if (first.servers !== count || first.rows < 1 || shown < first.rows) {
      throw new Error(`the list's first screenful had ${first.rows} of ${first.servers} rows (${shown} in the DOM), not of ${count}`);
    }
    const complete = await waitTiming(page, kListComplete);
    const rows = await page.getByTestId('server-row').count();
    if (complete.detail !== count || rows !== count) {
      throw new Error(`the list completed ${String(complete.detail)} rows (${rows} in the DOM), not ${count}`);
    }
    samples.push({ rendered: rendered.start, complete: complete.start, answered: await listAnsweredAt(page) });
  }
  return samples;
}

async function action(api: KumodApi, server: string, body: object): Promise<void> {
  await api.must('POST', `/v1/servers/${server}/actions`, body);
}

async function waitRow(page: Page, server: string, status: string): Promise<void> {
  const row = `[data-testid="server-row"][data-server="${server}"][data-status="${status}"]`;
  await page.locator(row).waitFor({ timeout: 60_000 });
}

// Force-stops and starts a few servers, one change at a time, waiting for
// each row to show it, until their watch messages number at least `updates`;
// returns, for each, ms from its arrival to its row updated.
async function rowUpdates(page: Page, api: KumodApi, count: number, updates: number): Promise<number[]> {
  const changed = Array.from({ length: Math.min(5, count) }, (_, i) => name(i));
  const before = (await timings(page, kWatchApplied)).length;
  for (let cycle = 0; cycle < 20; ++cycle) {
    for (const server of changed) {
      await action(api, server, { action: 'stop', force: true });
      await waitRow(page, server, 'stopped');
    }
    for (const server of changed) await action(api, server, { action: 'start' });
    for (const server of changed) await waitRow(page, server, 'running');
    await sleep(100); // the observer's callback comes after the row's update
    const samples = (await timings(page, kWatchApplied))
      .slice(before)
      .filter((t) => changed.includes(t.detail as string))
      .map((t) => t.duration);
    if (samples.length >= updates) return samples;
  }
  throw new Error(`fewer than ${updates} watch messages for ${changed.join(', ')} after 20 cycles`);
}

interface PageFigures {
  servers: number;
  renders: Render[];
  update_ms: number[];
}

// Signs in (the token typed into the form, as a user does), then measures the
// list with the servers kumod has now.
async function measurePage(browser: Browser, info: KumodInfo, count: number, o: Options): Promise<PageFigures> {
  const context = await browser.newContext({ baseURL: info.baseURL, viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
  try {
    await context.addInitScript(recordTimings);
    const page = await context.newPage();
    await page.goto('/#/');
    await page.getByTestId('signin-token').fill(info.token);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('sign-out').waitFor();
    const renders = await firstRenders(page, count, o.loads);
    const update_ms = await rowUpdates(page, new KumodApi(info), count, o.updates);
    return { servers: count, renders, update_ms };
  } finally {
    await context.close();
  }
}

// The figures of one page size, their names starting with `prefix`.
function summary(f: PageFigures, prefix: string): Record<string, number> {
  const rendered = f.renders.map((r) => r.rendered);
  return {
    [`${prefix}servers`]: f.servers,
    [`${prefix}render_p50_ms`]: percentile(rendered, 0.5),
    [`${prefix}render_max_ms`]: tenths(Math.max(...rendered)),
    [`${prefix}complete_p50_ms`]: percentile(f.renders.map((r) => r.complete), 0.5),
    [`${prefix}list_answered_p50_ms`]: percentile(f.renders.map((r) => r.answered), 0.5),
    [`${prefix}rows_built_p50_ms`]: percentile(f.renders.map((r) => r.rendered - r.answered), 0.5),
    [`${prefix}update_samples`]: f.update_ms.length,
    [`${prefix}update_p50_ms`]: percentile(f.update_ms, 0.5),
    [`${prefix}update_p99_ms`]: percentile(f.update_ms, 0.99),
  };
}

// Deletes the servers, stops kumod, and counts the agents still running.
async function tearDown(info: KumodInfo, agents: number[]): Promise<number> {
  try {
    await deleteServers(info.baseURL, info.token, 120_000);
  } finally {
    await stopKumod(info.pid);
  }
  await sleep(500);
  rmSync(info.tempDir, { recursive: true, force: true });
  return agents.filter(alive).length;
}

async function run(o: Options): Promise<boolean> {
  if (!existsSync(join(kDistDir, 'index.html'))) {
    throw new Error(`the panel is not built (no ${kDistDir}/index.html): run scripts/build-panel.sh`);
  }
  const info = await startKumod(o.kumod);
  const api = new KumodApi(info);
  const out: Record<string, unknown> = { bench: 'panel', loads: o.loads };
  let browser: Browser | null = null;
  let ok = false;
  const agents = new Set<number>();
  const noteAgents = async () => (await servers(api)).forEach((s) => s.qemu_pid && agents.add(s.qemu_pid));
  try {
    browser = await chromium.launch({ executablePath: o.chromium, headless: true });
    out.chromium = browser.version();
    await createUpTo(api, 0, o.reference);
    await noteAgents();
    Object.assign(out, summary(await measurePage(browser, info, o.reference, o), 'ref_'));
    console.error(`panel_bench: reference measured with ${o.reference} servers`);
    const start = Date.now();
    await createUpTo(api, o.reference, o.servers);
    out.create_all_running_s = (Date.now() - start) / 1000;
    console.error(`panel_bench: ${o.servers} servers running after ${out.create_all_running_s} s`);
    await noteAgents();
    Object.assign(out, summary(await measurePage(browser, info, o.servers, o), ''));
    await noteAgents(); // the restarted servers run new agents
    ok = true;
  } catch (err) {
    console.error(`panel_bench: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await browser?.close();
    out.agents_left_running = await tearDown(info, [...agents]);
  }
  console.log(JSON.stringify(out, null, 2));
  if (o.json) writeFileSync(o.json, JSON.stringify(out, null, 2) + '\n');
  return ok && out.agents_left_running === 0;
}

const options = parseOptions(process.argv.slice(2));
if (!options) {
  console.error(kUsage);
  process.exitCode = 2;
} else {
  process.exitCode = await run(options).then(
    (ok) => (ok ? 0 : 1),
    (err) => {
      console.error(`panel_bench: ${err instanceof Error ? err.message : String(err)}`);
      return 1;
    },
  );
}
