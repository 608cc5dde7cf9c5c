// Builds the panel into dist/: one JS bundle and one CSS file with content
// hashes in their names (served as immutable), index.html naming them, and a
// .gz beside each asset (kumod sends it to browsers that accept gzip).
// Fails when the first load (gzipped JS + CSS) is over the budget.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const kBudgetBytes = 250 * 1024;
const out = new URL('./dist/', import.meta.url).pathname;

const result = await build({
  entryPoints: ['src/main.ts'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  outdir: 'bundle',
  write: false,
  legalComments: 'none',
  logLevel: 'warning',
});

rmSync(out, { recursive: true, force: true });
mkdirSync(out + 'assets', { recursive: true });
const names = {};
let gzipped = 0;
for (const file of result.outputFiles) {
  const ext = file.path.endsWith('.css') ? 'css' : 'js';
  const hash = createHash('sha256').update(file.contents).digest('hex').slice(0, 12);
  const name = `assets/app-${hash}.${ext}`;
  names[ext] = name;
  const gz = gzipSync(file.contents, { level: 9 });
  gzipped += gz.length;
  writeFileSync(out + name, file.contents);
  writeFileSync(out + name + '.gz', gz);
}
const html = readFileSync('src/index.html', 'utf8')
  .replace('%CSS%', '/' + names.css)
  .replace('%JS%', '/' + names.js);
writeFileSync(out + 'index.html', html);
console.log(`panel: ${(gzipped / 1024).toFixed(1)} KiB of gzipped JS+CSS (budget ${kBudgetBytes / 1024} KiB) in ${out}`);
if (gzipped > kBudgetBytes) {
  console.error('panel: over the first-load budget');
  process.exit(1);
}
