// Ends what the global setup started: deletes every server left (forced),
// stops kumod by its pid (SIGTERM, then SIGKILL after 10 s), kills any QEMU
// still running from this state directory (by the pid in its run directory,
// checked against its command line), keeps a copy of kumod's log, and
// removes the temp folder (kept when KUMO_E2E_KEEP=1).
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readKumodInfo } from './support/kumod_info';
import { kInfoEnv } from './support/paths';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Running and not a zombie waiting to be reaped.
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function deleteServers(baseURL: string, token: string): Promise<void> {
  const headers = { Authorization: `Bearer ${token}` };
  const list = async (): Promise<string[]> => {
    const r = await fetch(`${baseURL}/v1/servers`, { headers });
    const body = (await r.json()) as { servers: { name: string }[] };
    return body.servers.map((s) => s.name);
  };
  for (const name of await list()) {
    await fetch(`${baseURL}/v1/servers/${encodeURIComponent(name)}?force=true`, { method: 'DELETE', headers });
  }
  for (let i = 0; i < 300 && (await list()).length > 0; ++i) await sleep(100);
}

function killGuests(stateDir: string): void {
  const servers = join(stateDir, 'servers');
  if (!existsSync(servers)) return;
  for (const name of readdirSync(servers)) {
    const dir = join(servers, name);
    try {
      const pid = Number(readFileSync(join(dir, 'qemu.pid'), 'utf8').trim());
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (pid > 0 && cmdline.includes(dir)) process.kill(pid, 'SIGKILL');
    } catch {
      // no pid file, or that QEMU is gone
    }
  }
}

export default async function globalTeardown(): Promise<void> {
  if (!process.env[kInfoEnv]) return;
  const info = readKumodInfo();
  if (info.pid > 0 && alive(info.pid)) {
    try {
      await deleteServers(info.baseURL, info.token);
    } catch (err) {
      console.log(`e2e teardown: could not delete the servers: ${String(err)}`);
    }
    process.kill(info.pid, 'SIGTERM');
    for (let i = 0; i < 100 && alive(info.pid); ++i) await sleep(100);
    if (alive(info.pid)) process.kill(info.pid, 'SIGKILL');
  }
  killGuests(info.stateDir);
  const keptLog = join(tmpdir(), 'kumo-panel-e2e-kumod.log');
  try {
    copyFileSync(info.logPath, keptLog);
    console.log(`e2e: kumod's log is in ${keptLog}`);
  } catch {
    // no log
  }
  if (process.env.KUMO_E2E_KEEP === '1') {
    console.log(`e2e: kept ${info.tempDir}`);
  } else {
    rmSync(info.tempDir, { recursive: true, force: true });
  }
}
