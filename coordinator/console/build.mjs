// Builds the console into dist/: exactly index.html, app.js and app.css,
// which the ferry binary embeds and serves at / (see coordinator/src/server/console.rs).
import { build, transform } from 'esbuild';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

await build({
  entryPoints: [join(root, 'src/main.jsx')],
  outfile: join(dist, 'app.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  loader: { '.js': 'jsx' },
  legalComments: 'eof',
  logLevel: 'warning',
});

const css = (
  await Promise.all(
    ['node_modules/uplot/dist/uPlot.min.css', 'src/style.css'].map((f) => readFile(join(root, f), 'utf8')),
  )
).join('\n');
const { code } = await transform(css, { loader: 'css', minify: true, target: ['chrome90', 'firefox90', 'safari15'] });
await writeFile(join(dist, 'app.css'), code);

await copyFile(join(root, 'src/index.html'), join(dist, 'index.html'));
