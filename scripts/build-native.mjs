#!/usr/bin/env node
// Builds the native addon with node-gyp, after checking that libtorch can be found
// (so that a missing libtorch gives the install instructions, not a compiler error).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { findLibtorch } from './find-libtorch.mjs';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
let torch;
try {
  torch = findLibtorch();
} catch (e) {
  console.error(`\n${e.message}\n`);
  process.exit(1);
}
console.log(
  `lsr: building the native addon (9 C++ files against libtorch from ${torch.source}${torch.cuda ? ', CUDA' : ''}); this takes 2–3 minutes on 2 cores`,
);

const env = { ...process.env };
// Build against the running node's own headers when they are installed (no download needed).
if (!env.npm_config_nodedir) {
  const prefix = resolve(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
}
const require = createRequire(import.meta.url);
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
const jobs = process.env.JOBS ?? 'max';
const r = spawnSync(process.execPath, [gyp, 'rebuild', '--jobs', jobs], { cwd: root, env, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('lsr: the native build failed (see the compiler output above).');
  process.exit(r.status ?? 1);
}
