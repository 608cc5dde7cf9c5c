// The panel's end-to-end tests: Playwright drives Debian's Chromium
// (/usr/bin/chromium, never a downloaded browser) headless against a real
// kumod with real QEMU guests, started by global-setup.ts and stopped by
// global-teardown.ts. One worker: the specs share one kumod and its guests,
// in the order of their file names (later ones look at guests booted earlier).
// Timeouts are generous: under TCG a guest boots in tens of seconds.
import { defineConfig } from '@playwright/test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.ts',
  globalSetup: './global-setup.ts',
  globalTeardown: './global-teardown.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: 'list',
  timeout: 10 * 60 * 1000,
  expect: { timeout: 30 * 1000 },
  outputDir: join(tmpdir(), 'kumo-panel-e2e-results'),
  use: {
    browserName: 'chromium',
    headless: true,
    launchOptions: { executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium' },
    viewport: { width: 1280, height: 800 },
    locale: 'en-GB',
    actionTimeout: 30 * 1000,
    navigationTimeout: 30 * 1000,
    trace: 'off',
    screenshot: 'only-on-failure',
  },
});
