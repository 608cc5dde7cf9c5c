// Starts the real kumod the specs run against, as the C++ e2e harness does
// (tests/e2e/kumod_harness.cc): a fresh state directory in a temp folder, a
// free loopback port, the project's guest image, TCG unless KUMO_TEST_ACCEL
// says otherwise, a health look every second as in tests/e2e/diagnosis_test
// (the agent's spelling of OOM victims and the charts' samples come
// quickly), and the built panel (web/dist) served at /. Waits for /healthz,
// reads the token, and leaves the facts in a JSON file for the tests and the
// teardown. Fails at once, saying what to do, when the panel
// or kumod was not built.
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KumodInfo } from './support/kumod_info';
import { freePort, spawnKumod } from './support/kumod_process';
import { guestImageDir, kDistDir, kInfoEnv, kumodPath } from './support/paths';

export default async function globalSetup(): Promise<void> {
  if (!existsSync(join(kDistDir, 'index.html'))) {
    throw new Error(
      `the panel is not built (${kDistDir}/index.html is missing): run scripts/build-panel.sh ` +
        '(or `node build.mjs` in web/) before the e2e tests',
    );
  }
  const kumod = kumodPath();
  if (!existsSync(kumod)) {
    throw new Error(`kumod not found at ${kumod}: build it (cmake --build build --target kumod) or set KUMOD`);
  }
  const images = guestImageDir();
  if (!existsSync(join(images, 'image.json'))) {
    throw new Error(`no guest image in ${images}: build it (--target guest-image) or set KUMO_GUEST_IMAGE_DIR`);
  }

  const tempDir = mkdtempSync(join(tmpdir(), 'kumo-panel-e2e-'));
  let child: ChildProcess | null = null;
  try {
    return await start(tempDir, images, (c) => (child = c));
  } catch (err) {
    // Nothing left behind when kumod did not come up as it should.
    const started = child as ChildProcess | null;
    if (started && started.exitCode === null) started.kill('SIGKILL');
    rmSync(tempDir, { recursive: true, force: true });
    throw err;
  }
}

async function start(tempDir: string, images: string, started: (c: ChildProcess) => void): Promise<void> {
  // As root, QEMU runs as kumo-qemu, which must pass through to the servers'
  // run directories (it may not list or read this one).
  chmodSync(tempDir, 0o711);
  const stateDir = join(tempDir, 'state');
  const logPath = join(tempDir, 'kumod.log');
  const port = await freePort();
  const sshPortBase = await freePort();
  const argv = [
    '--state-dir', stateDir,
    '--listen', `127.0.0.1:${port}`,
    '--accel', process.env.KUMO_TEST_ACCEL || 'tcg',
    '--image-dir', images,
    '--panel-dir', kDistDir,
    '--stop-timeout', '20',
    '--ssh-port-base', String(sshPortBase),
    '--health-interval', '1',
    ...(process.env.KUMO_TEST_KUMOD_FLAGS ?? '').split(/\s+/).filter(Boolean),
  ];
  const baseURL = `http://127.0.0.1:${port}`;
  const child = await spawnKumod(kumodPath(), argv, logPath, baseURL, started);
  const index = await fetch(`${baseURL}/`);
  if (index.status !== 200 || !(await index.text()).includes('<')) {
    throw new Error(`kumod does not serve the panel at / (HTTP ${index.status}): does it have --panel-dir?`);
  }

  const info: KumodInfo = {
    baseURL,
    token: readFileSync(join(stateDir, 'token'), 'utf8').trim(),
    stateDir,
    tempDir,
    logPath,
    pid: child.pid ?? 0,
  };
  const infoPath = join(tempDir, 'info.json');
  writeFileSync(infoPath, JSON.stringify(info, null, 2));
  process.env[kInfoEnv] = infoPath;
  console.log(`e2e: kumod (pid ${info.pid}) at ${baseURL}, state in ${stateDir}, argv: ${argv.join(' ')}`);
}
