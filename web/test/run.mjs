// Runs the panel's unit tests (test/*.test.ts) with Node's own test runner:
// each file is bundled by esbuild for Node first (works on Node 18 and 20).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const files = readdirSync(here).filter((f) => f.endsWith('.test.ts'));
const out = mkdtempSync(join(tmpdir(), 'kumo-panel-test-'));
try {
  await build({
    entryPoints: files.map((f) => join(here, f)),
    bundle: true,
    platform: 'node',
    format: 'esm',
    outdir: out,
    outExtension: { '.js': '.mjs' },
    logLevel: 'warning',
  });
  const built = readdirSync(out).map((f) => join(out, f));
  const run = spawnSync(process.execPath, ['--test', ...built], { stdio: 'inherit' });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
