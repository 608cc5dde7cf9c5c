// Starts the real kumod the specs run against, as the C++ e2e harness does
// (tests/e2e/kumod_harness.cc): a fresh state directory in a temp folder, a
// free loopback port, the project's guest image, TCG unless KUMO_TEST_ACCEL
// says otherwise, a health look every second as in tests/e2e/diagnosis_test
// (the agent's spelling of OOM victims and the charts' samples come
// quickly), and the built panel (web/dist) served at /. Waits for /healthz,
// reads the token, and leaves the facts in a JSON file for the tests and the
// teardown. Fails at once, saying what to do, when the panel
// or kumod was not built.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KumodInfo } from './support/kumod_info';
import { guestImageDir, kDistDir, kInfoEnv, kumodPath } from './support/paths';

function freePort(): Promise<number> {
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  const log = openSync(logPath, 'a');
  const child = spawn(kumodPath(), argv, { stdio: ['ignore', log, log] });
  started(child);
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = `kumod exited (code ${code}, signal ${signal})`;
  });
  child.once('error', (err) => {
    exited = `kumod could not start: ${err.message}`;
  });

  const baseURL = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`${exited}:\n${readFileSync(logPath, 'utf8')}`);
    try {
      const r = await fetch(`${baseURL}/healthz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`kumod did not answer /healthz within 20 s:\n${readFileSync(logPath, 'utf8')}`);
    }
    await sleep(50);
  }
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
