// Loads the native addon (native/*.cc). Its entry points are typed by Native, generated from the
// op table (native/ops.table) with NATIVE_OPS, the list of their names.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, NativeError, NonFiniteLogitsError } from './errors.js';
import type { Native } from './ops.generated.js';

export type { DType, ExternalMemoryStats, Handle, MemoryFormat, NativeImage, Reduction } from './native-types.js';
export { type Native, NATIVE_OPS } from './ops.generated.js';

function addonPath(): string {
  if (process.env.LSR_NATIVE) return resolve(process.env.LSR_NATIVE);
  // dist/src/engine/native.js -> <root>/build/Release/lsr_native.node
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'build', 'Release', 'lsr_native.node');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error(
    'lsr: the native addon is not built (build/Release/lsr_native.node is missing). ' +
      'In a project that installed lsr-torch: `npm rebuild lsr-torch` (if npm skipped its install script, ' +
      'allow it first: `npm install-scripts approve lsr-torch`, npm 11). It needs libtorch: as root, ' +
      "`apt-get install libtorch-dev libopenblas0-pthread libturbojpeg0-dev`. In lsr's own clone: `bash scripts/setup.sh`.",
  );
}

const require = createRequire(import.meta.url);

// Debian's libtorch runs fp32 matmuls on OpenBLAS's own pthread pool, beside libtorch's OpenMP pool.
// After each call OpenBLAS's workers spin (with sched_yield) for 2^28 cycles, about 0.1 s, before
// they sleep: long enough to take the cores from the convolutions that follow. The fp32 head of a
// bf16 run calls it three times a step (resnet18 64² bf16 training on 2 cores: 265 → 329 img/s with
// a timeout of 2^4). OpenBLAS reads the setting once, when it loads with the addon: it is set for
// that moment only (unless the user set it), so the process's environment is left as it was.
function loadAddon(): Native {
  const userSet = process.env.OPENBLAS_THREAD_TIMEOUT !== undefined;
  if (!userSet) process.env.OPENBLAS_THREAD_TIMEOUT = '4';
  try {
    return require(addonPath()) as Native;
  } finally {
    if (!userSet) delete process.env.OPENBLAS_THREAD_TIMEOUT;
  }
}
export const native: Native = loadAddon();
native.set_error_classes({ [ErrorCode.nonFiniteLogits]: NonFiniteLogitsError, [ErrorCode.native]: NativeError });
