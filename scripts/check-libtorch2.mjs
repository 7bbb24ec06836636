#!/usr/bin/env node
// Compile-checks every native/*.cc against libtorch 2.11's headers (the include/ folder of pip's
// PyTorch 2.11 wheel, vendor/libtorch-2.11-include.tar.xz), on a machine that has only Debian's
// libtorch 1.13: one source for both generations, with no deprecation warning on 2.x. Syntax and
// types only (-fsyntax-only): no 2.11 libraries are needed. dist.cc is checked with LSR_GLOO, Gloo's
// headers taken from the system (Debian's libgloo-dev), as a pip build with Gloo would see them.
//   node scripts/check-libtorch2.mjs [--headers TARBALL]
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const argIndex = process.argv.indexOf('--headers');
const tarball = argIndex >= 0 ? process.argv[argIndex + 1] : join(root, 'vendor', 'libtorch-2.11-include.tar.xz');
const headers = join(root, 'build', 'libtorch-2.11');
const include = join(headers, 'include');

if (!existsSync(join(include, 'ATen', 'ATen.h'))) {
  if (!existsSync(tarball)) {
    console.error(`check-libtorch2: ${tarball} is missing (libtorch 2.11's include/ folder, see vendor/README.md)`);
    process.exit(2);
  }
  mkdirSync(headers, { recursive: true });
  execFileSync('tar', ['-C', headers, '-xJf', tarball]);
}
// 2.x keeps the version macros in torch/headeronly/version.h (torch/version.h includes it).
const versionFile = [join(include, 'torch', 'headeronly', 'version.h'), join(include, 'torch', 'version.h')].find((f) => existsSync(f));
const version = versionFile ? /TORCH_VERSION_MAJOR (\d+)[\s\S]*TORCH_VERSION_MINOR (\d+)/.exec(readFileSync(versionFile, 'utf8')) : null;
const napi = createRequire(import.meta.url)('node-addon-api').include_dir;
const nodeHeaders = ['/usr/include/node', join(process.execPath, '..', '..', 'include', 'node')].find((d) => existsSync(join(d, 'node_api.h')));
if (!nodeHeaders) {
  console.error("check-libtorch2: Node's headers (node_api.h) were not found in /usr/include/node or next to node");
  process.exit(2);
}
const gloo = existsSync('/usr/include/gloo/algorithm.h');
const flags = [
  '-fsyntax-only',
  '-std=c++17',
  '-D_GLIBCXX_USE_CXX11_ABI=1',
  '-DNAPI_VERSION=8',
  '-DNODE_ADDON_API_CPP_EXCEPTIONS',
  '-DNODE_ADDON_API_DISABLE_DEPRECATED',
  ...(gloo ? ['-DLSR_GLOO=1'] : []),
  '-fopenmp',
  '-Wall',
  '-Wno-unused-parameter',
  '-Wno-missing-field-initializers',
  // A deprecation on 2.x is an error: the source must use what 2.x keeps.
  '-Werror=deprecated-declarations',
  // -isystem: the headers' own warnings are theirs; a deprecated call in native/ is still ours.
  `-isystem${include}`,
  `-isystem${join(include, 'torch', 'csrc', 'api', 'include')}`,
  `-isystem${napi.replace(/"/g, '')}`,
  `-isystem${nodeHeaders}`,
  // After 2.11's own: Gloo's headers (pip's wheel ships none).
  '-idirafter',
  '/usr/include',
];
const sources = readdirSync(join(root, 'native'))
  .filter((f) => f.endsWith('.cc'))
  .sort();
console.log(
  `check-libtorch2: ${sources.length} files against libtorch ${version ? `${version[1]}.${version[2]}` : '?'} headers (${include})${gloo ? ', with Gloo' : ''}`,
);

const jobs = Math.max(1, Math.min(availableParallelism(), 4));
const failed = [];
const queue = [...sources];
async function worker() {
  for (let file = queue.shift(); file; file = queue.shift()) {
    const started = Date.now();
    const { code, stderr } = await new Promise((resolve) => {
      const cc = spawn('g++', [...flags, join(root, 'native', file)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      cc.stderr.on('data', (d) => {
        err += d;
      });
      cc.on('close', (c) => resolve({ code: c, stderr: err }));
    });
    console.log(`  ${file}: ${code === 0 ? 'ok' : 'FAILED'} (${((Date.now() - started) / 1000).toFixed(0)} s)${stderr.trim() ? ' with warnings' : ''}`);
    if (stderr.trim()) console.log(stderr.trim().split('\n').slice(0, 40).join('\n'));
    if (code !== 0) failed.push(file);
  }
}
await Promise.all(Array.from({ length: jobs }, worker));
if (failed.length) {
  console.error(`check-libtorch2: ${failed.join(', ')} do not compile against libtorch 2.11`);
  process.exit(1);
}
console.log('check-libtorch2: every native file compiles against libtorch 2.11, without deprecation warnings');
