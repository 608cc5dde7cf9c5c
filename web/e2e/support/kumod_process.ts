// A kumod of a test's or benchmark's own, as a child process: a free loopback
// port for it, started from an argv with its output in a log file and waited
// for until /healthz answers, and ended by its pid after its servers are
// deleted. Used by the e2e global setup and teardown and by the panel
// benchmark (web/bench/panel_bench.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// Running and not a zombie waiting to be reaped.
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

// Starts `kumod` with `argv` (output appended to `logPath`) and waits until
// `baseURL`/healthz answers. `started` gets the child at once, so that the
// caller can stop it if this throws (kumod exited, or no answer in 20 s).
export async function spawnKumod(
  kumod: string,
  argv: string[],
  logPath: string,
  baseURL: string,
  started: (c: ChildProcess) => void,
): Promise<ChildProcess> {
  const log = openSync(logPath, 'a');
  const child = spawn(kumod, argv, { stdio: ['ignore', log, log] });
  started(child);
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = `kumod exited (code ${code}, signal ${signal})`;
  });
  child.once('error', (err) => {
    exited = `kumod could not start: ${err.message}`;
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`${exited}:\n${readFileSync(logPath, 'utf8')}`);
    try {
      const r = await fetch(`${baseURL}/healthz`);
      if (r.status === 200) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`kumod did not answer /healthz within 20 s:\n${readFileSync(logPath, 'utf8')}`);
    }
    await sleep(50);
  }
}

// Deletes every server (forced) and waits up to `timeoutMs` for the list to
// be empty.
export async function deleteServers(baseURL: string, token: string, timeoutMs = 30_000): Promise<void> {
  const headers = { Authorization: `Bearer ${token}` };
  const list = async (): Promise<string[]> => {
    const r = await fetch(`${baseURL}/v1/servers`, { headers });
    const body = (await r.json()) as { servers: { name: string }[] };
    return body.servers.map((s) => s.name);
  };
  for (const name of await list()) {
    await fetch(`${baseURL}/v1/servers/${encodeURIComponent(name)}?force=true`, { method: 'DELETE', headers });
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && (await list()).length > 0) await sleep(100);
}

// SIGTERM to kumod's pid, SIGKILL if it still runs after 10 s.
export async function stopKumod(pid: number): Promise<void> {
  if (pid <= 0 || !alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); ++i) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}
