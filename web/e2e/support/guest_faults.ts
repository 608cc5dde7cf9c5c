// Faults made inside a running kumo guest, the same guest commands as the C++
// e2e tests (tests/e2e/guest_faults.cc, kumod_test.cc), through kumod's exec
// (busybox's shell in the guest). Each returns once the fault is under way.
// REQUIRES: the server runs the project's guest image and its agent answers.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { KumodApi } from './api';

// The kernel's console lines for an OOM kill (the serial console may double
// a character under load, so more than one).
export const kOomLines = ['Killed process', 'Out of memory', 'oom-kill:'];

// The agent stops (SIGSTOP from a helper it started, 1 s after the exec has
// answered). Returns when it is frozen, as far as the test knows (ms).
export async function freezeAgent(api: KumodApi, name: string): Promise<{ returnedAt: number; frozenAt: number }> {
  const r = await api.shell(name, '(sleep 1; kill -STOP $PPID) >/dev/null 2>&1 &');
  if (r.exit_code !== 0) throw new Error(`freeze in ${name}: ${JSON.stringify(r)}`);
  const returnedAt = Date.now();
  return { returnedAt, frozenAt: returnedAt + 1000 };
}

// dropbear made the OOM killer's first choice (oom_score_adj 1000) and not
// respawned once it dies, then a memory hog (busybox `tail /dev/zero`, the
// second victim) until the kernel kills. Started with setsid and without the
// exec's pipes, so that the exec answers at once.
const kOomSshd = `
sed -i 's|^::respawn:/usr/sbin/dropbear|::once:/usr/sbin/dropbear|' /etc/inittab || exit 1
kill -HUP 1 && sleep 1
pids=$(pidof dropbear) || { echo "dropbear is not running"; exit 1; }
for p in $pids; do echo 1000 > /proc/$p/oom_score_adj || exit 1; done
setsid tail /dev/zero </dev/null >/dev/null 2>&1 &
`;

// Starts the OOM fault; returns a function that waits for the kernel's line
// on the server's console log (read from the state directory, from its end
// as it was before the fault) and gives that line.
export async function oomKillSshd(api: KumodApi, name: string): Promise<{ startedAt: number; waitLine: (timeoutMs: number) => Promise<string> }> {
  const log = join(api.info.stateDir, 'servers', name, 'console.log');
  let mark = 0;
  try {
    mark = statSync(log).size;
  } catch {
    mark = 0;
  }
  const startedAt = Date.now();
  const r = await api.shell(name, kOomSshd);
  if (r.exit_code !== 0) throw new Error(`OOM fault in ${name}: ${JSON.stringify(r)}`);
  const waitLine = async (timeoutMs: number): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const lines = readFileSync(log).subarray(mark).toString('utf8').split('\n').slice(0, -1);
      const line = lines.find((l) => kOomLines.some((n) => l.includes(n)));
      if (line) return line.trim();
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`no OOM line on ${name}'s console within ${timeoutMs / 1000} s`);
  };
  return { startedAt, waitLine };
}
