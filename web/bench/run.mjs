// Runs the panel benchmark (bench/panel_bench.ts; bench/README.md) on Node 18
// or 20: esbuild bundles it for Node first, as test/run.mjs does for the unit
// tests, into node_modules/.cache so that its npm packages (Playwright) are
// found from there: two folders below web/, as e2e/support/paths.ts is, so
// that the paths it derives from import.meta.url hold in the bundle too.
// Arguments are the benchmark's own.
import { build } from 'esbuild';
import { pathToFileURL } from 'node:url';

const out = new URL('../node_modules/.cache/kumo-panel-bench.mjs', import.meta.url).pathname;
await build({
  entryPoints: [new URL('./panel_bench.ts', import.meta.url).pathname],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node18',
  packages: 'external',
  outfile: out,
  logLevel: 'warning',
});
await import(pathToFileURL(out).href);
