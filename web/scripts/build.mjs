// Builds the web app into dist/: app.js and app.css bundled by esbuild, plus
// everything in static/ (index.html, favicon). dist/.gitkeep is kept so that
// go:embed compiles before the first build.
//
//   node scripts/build.mjs          production build (minified)
//   node scripts/build.mjs --dev    unminified, with source maps
//   node scripts/build.mjs --watch  --dev, rebuilding on change

import * as esbuild from 'esbuild';
import { cp, mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const watch = process.argv.includes('--watch');
const dev = watch || process.argv.includes('--dev');

async function clean() {
  await mkdir(dist, { recursive: true });
  for (const name of await readdir(dist)) {
    if (name !== '.gitkeep') await rm(join(dist, name), { recursive: true, force: true });
  }
}

async function copyStatic() {
  await cp(join(root, 'static'), dist, { recursive: true });
}

/** @type {import('esbuild').BuildOptions} */
const options = {
  absWorkingDir: root,
  entryPoints: { app: 'src/main.tsx' },
  outdir: 'dist',
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15', 'edge100'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: !dev,
  sourcemap: dev ? 'linked' : false,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"' },
};

await clean();
await copyStatic();
if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log('watching src/ (static/ is copied once at start)…');
} else {
  const result = await esbuild.build({ ...options, metafile: true });
  const outputs = Object.entries(result.metafile.outputs)
    .map(([file, o]) => `${file} ${(o.bytes / 1024).toFixed(1)} KiB`)
    .join(', ');
  console.log(`built ${outputs}`);
}
