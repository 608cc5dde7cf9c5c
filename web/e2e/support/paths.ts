// Where things are for the e2e run: the web/ folder, the built panel, the
// screenshots folder, the kumod binary and guest image (from the environment
// that CTest sets, else this checkout's build/), and the run's info file.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const kWebDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const kRepoDir = resolve(kWebDir, '..');
export const kDistDir = resolve(kWebDir, 'dist');
export const kScreenshotDir = resolve(kRepoDir, 'docs/screenshots');

export function kumodPath(): string {
  return process.env.KUMOD ?? resolve(kWebDir, '../build/bin/kumod');
}

export function guestImageDir(): string {
  return process.env.KUMO_GUEST_IMAGE_DIR ?? resolve(kWebDir, '../build/guest-image');
}

// The global setup writes the run's facts here and names the file in this
// variable; the test workers inherit it.
export const kInfoEnv = 'KUMO_E2E_INFO';
