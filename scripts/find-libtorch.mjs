#!/usr/bin/env node
// Finds libtorch for the native build, in the order tch-rs uses:
//   1. LIBTORCH=/path (include/ and lib/ inside; a CUDA build is linked with its CUDA library);
//   2. LIBTORCH_USE_PYTORCH=1: the libtorch inside the installed Python torch package;
//   3. the system's (Debian's libtorch-dev);
//   4. otherwise the Python torch package, if one is installed.
// Prints what binding.gyp asks for (--include, --libs, --defines) or, with --check, a summary.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const HELP = `libtorch was not found, so the lsr native addon cannot be built.
Install it in one of these ways:
  - Debian 12 / Ubuntu (as root):  apt-get install libtorch-dev libopenblas0-pthread libturbojpeg0-dev
    (in lsr's own clone, bash scripts/setup.sh installs everything lsr needs)
  - another libtorch (e.g. a CUDA build):  export LIBTORCH=/path/to/libtorch   (with include/ and lib/ inside)
  - the libtorch inside a pip-installed PyTorch:  export LIBTORCH_USE_PYTORCH=1`;

function fromPrefix(prefix, source) {
  const include = join(prefix, 'include');
  const lib = join(prefix, 'lib');
  if (!existsSync(join(include, 'ATen', 'ATen.h'))) return { error: `${source}: ${include}/ATen/ATen.h is missing` };
  if (!existsSync(join(lib, 'libtorch.so')) && !existsSync(join(lib, 'libtorch_cpu.so'))) return { error: `${source}: ${lib}/libtorch.so is missing` };
  return {
    source,
    includes: [include, join(include, 'torch', 'csrc', 'api', 'include')],
    libDir: lib,
    cuda: existsSync(join(lib, 'libtorch_cuda.so')),
    cxx11Abi: process.env.LIBTORCH_CXX11_ABI === '0' ? 0 : 1,
  };
}

function fromPython() {
  const py = process.env.PYTHON ?? 'python3';
  try {
    const out = execFileSync(py, ['-c', 'import torch,os;print(os.path.dirname(torch.__file__));print(int(torch._C._GLIBCXX_USE_CXX11_ABI))'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .trim()
      .split('\n');
    const found = fromPrefix(out[0], `Python torch (${py})`);
    if (!found.error) found.cxx11Abi = Number(out[1]);
    return found;
  } catch {
    return { error: `Python torch: '${py} -c "import torch"' failed` };
  }
}

function fromSystem() {
  if (!existsSync('/usr/include/ATen/ATen.h')) return { error: 'system: /usr/include/ATen/ATen.h is missing' };
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'];
  const libDir = dirs.find((d) => existsSync(join(d, 'libtorch.so')));
  if (!libDir) return { error: 'system: libtorch.so is missing' };
  return {
    source: 'system (libtorch-dev)',
    includes: ['/usr/include/torch/csrc/api/include'],
    libDir,
    cuda: existsSync(join(libDir, 'libtorch_cuda.so')),
    cxx11Abi: 1,
  };
}

export function findLibtorch() {
  const tried = [];
  const attempt = (r) => {
    if (!r.error) return r;
    tried.push(r.error);
    return null;
  };
  if (process.env.LIBTORCH) {
    const r = fromPrefix(process.env.LIBTORCH, `LIBTORCH=${process.env.LIBTORCH}`);
    if (r.error) throw new Error(`${r.error}\n\n${HELP}`);
    return r;
  }
  if (process.env.LIBTORCH_USE_PYTORCH === '1') {
    const r = fromPython();
    if (r.error) throw new Error(`${r.error}\n\n${HELP}`);
    return r;
  }
  const found = attempt(fromSystem()) ?? attempt(fromPython());
  if (!found) throw new Error(`${HELP}\n\nLooked at:\n  - ${tried.join('\n  - ')}`);
  return found;
}

/** Gloo's headers (Debian: libgloo-dev; inside a pip/LIBTORCH build's include/) let lsr build c10d's process groups. */
function hasGloo(t) {
  return [...t.includes, '/usr/include'].some((d) => existsSync(join(d, 'gloo', 'algorithm.h')));
}

/** A libtorch built with glog (Debian's) logs its warnings through it: lsr then initialises glog to stderr. */
function usesGlog(t) {
  const dirs = [...t.includes, '/usr/include'];
  const macros = dirs.map((d) => join(d, 'c10', 'macros', 'cmake_macros.h')).find((f) => existsSync(f));
  return !!macros && /#define C10_USE_GLOG\b/.test(readFileSync(macros, 'utf8')) && dirs.some((d) => existsSync(join(d, 'glog', 'logging.h')));
}

function libs(t) {
  const names = ['torch', 'torch_cpu', 'c10', ...(usesGlog(t) ? ['glog'] : [])];
  const l = [`-L${t.libDir}`, `-Wl,-rpath,${t.libDir}`];
  // CUDA kernels register themselves when libtorch_cuda is loaded: keep it even though no symbol is used.
  if (t.cuda) l.push('-Wl,--no-as-needed', '-ltorch_cuda', '-Wl,--as-needed');
  if (t.cuda && existsSync(join(t.libDir, 'libc10_cuda.so'))) l.push('-lc10_cuda');
  return [...l, ...names.map((n) => `-l${n}`)];
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  let t;
  try {
    t = findLibtorch();
  } catch (e) {
    console.error(`\n${e.message}\n`);
    process.exit(1);
  }
  const arg = process.argv[2];
  if (arg === '--include') console.log(t.includes.join(' '));
  else if (arg === '--libs') console.log(libs(t).join(' '));
  else if (arg === '--defines')
    console.log(
      [
        `_GLIBCXX_USE_CXX11_ABI=${t.cxx11Abi}`,
        ...(t.cuda ? ['LSR_CUDA=1'] : []),
        ...(hasGloo(t) ? ['LSR_GLOO=1'] : []),
        ...(usesGlog(t) ? ['LSR_GLOG=1'] : []),
      ].join(' '),
    );
  else {
    const so = readdirSync(t.libDir).filter((f) => /^libtorch(_cuda)?\.so/.test(f));
    console.log(
      `libtorch: ${t.source}\n  include: ${t.includes.join(' ')}\n  lib: ${t.libDir} (${so.join(', ')})\n  cuda: ${t.cuda}\n  gloo (distributed): ${hasGloo(t)}`,
    );
  }
}
