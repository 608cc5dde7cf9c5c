// Ends what the global setup started: deletes every server left (forced),
// stops kumod by its pid (SIGTERM, then SIGKILL after 10 s), kills any QEMU
// still running from this state directory (by the pid in its run directory,
// checked against its command line), keeps a copy of kumod's log, and
// removes the temp folder (kept when KUMO_E2E_KEEP=1).
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readKumodInfo } from './support/kumod_info';
import { alive, deleteServers, stopKumod } from './support/kumod_process';
import { kInfoEnv } from './support/paths';

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
    await stopKumod(info.pid);
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
