// Runs the unit tests (src/**/*.test.ts) with node's built-in test runner.
// Node 20 can't load TypeScript itself, so esbuild compiles each test file
// (bundled with what it imports) into .test-out/ first.

import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '.test-out');

async function findTests(dir) {
  const found = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await findTests(p)));
    else if (/\.test\.tsx?$/.test(entry.name)) found.push(p);
  }
  return found.sort();
}

const tests = await findTests(join(root, 'src'));
if (tests.length === 0) {
  console.error('no test files found under src/');
  process.exit(1);
}
await rm(out, { recursive: true, force: true });
await esbuild.build({
  absWorkingDir: root,
  entryPoints: tests.map((t) => relative(root, t)),
  outdir: out,
  outbase: 'src',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  loader: { '.css': 'empty' },
  sourcemap: 'inline',
  logLevel: 'warning',
});
const files = tests.map((t) => join(out, relative(join(root, 'src'), t)).replace(/\.tsx?$/, '.mjs'));
const run = spawnSync(process.execPath, ['--enable-source-maps', '--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(run.status ?? 1);
