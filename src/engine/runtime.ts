// Process-wide engine state: grad mode, autocast, RNG, threads, memory statistics.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { type DType, native } from './native.js';
import { Tensor } from './tensor.js';

function guarded<T>(enter: () => void, exit: () => void, fn: () => T): T {
  enter();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    exit();
    throw e;
  }
  exit();
  if (result instanceof Promise) throw new Error('noGrad/enableGrad/autocast: fn must be synchronous (it returned a Promise)');
  return result;
}

/** Runs fn with gradient recording off (torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  let prev = true;
  return guarded(() => (prev = native.set_grad_enabled(false)), () => native.set_grad_enabled(prev), fn);
}
/** Runs fn with gradient recording on (torch.enable_grad). */
export function enableGrad<T>(fn: () => T): T {
  let prev = true;
  return guarded(() => (prev = native.set_grad_enabled(true)), () => native.set_grad_enabled(prev), fn);
}
export const isGradEnabled = (): boolean => native.is_grad_enabled();

export interface AutocastOptions {
  /** 'bfloat16' (CPU and CUDA) or 'float16' (CUDA). */
  dtype?: DType;
  deviceType?: 'cpu' | 'cuda';
  enabled?: boolean;
}
/**
 * Runs fn under automatic mixed precision (torch.autocast): matmuls and convolutions in the lower
 * precision, precision-sensitive ops (softmax, losses, norms) in float32.
 */
export function autocast<T>(opts: AutocastOptions, fn: () => T): T {
  if (opts.enabled === false) return fn();
  const device = opts.deviceType ?? 'cpu';
  let prev = { enabled: false, dtype: 'bfloat16' as DType };
  return guarded(
    () => (prev = native.autocast_enter(device, opts.dtype ?? 'bfloat16')),
    () => native.autocast_exit(device, prev.enabled, prev.dtype),
    fn,
  );
}

/** Seeds libtorch's default generator (torch.manual_seed). */
export function manualSeed(seed: number): void {
  native.manual_seed(seed);
}
/** The CPU generator's state as a uint8 tensor (torch.get_rng_state), for checkpoints. */
export const getRngState = (): Tensor => new Tensor(native.get_rng_state());
export const setRngState = (state: Tensor): void => native.set_rng_state(state.handle);

/** Sets libtorch's intra-op thread count (torch.set_num_threads). */
export function setNumThreads(n: number): void {
  native.set_num_threads(n);
}
export const getNumThreads = (): number => native.get_num_threads();

/**
 * The cores this process may use: the CPU affinity mask, capped by a cgroup v2 CPU quota
 * (a container limited to 2 CPUs on a 64-core host gets 2).
 */
export function availableCores(): number {
  let n = availableParallelism();
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota && quota !== 'max' && period) n = Math.min(n, Math.max(1, Math.ceil(Number(quota) / Number(period))));
  } catch {
    // no cgroup v2 limit
  }
  return n;
}

/** Live tensor handles and the bytes their storages hold (a storage shared by views counts per handle). */
export const memoryStats = (): { liveTensors: number; bytes: number } => native.memory_stats();
export const buildInfo = () => native.build_info();

// libtorch's own default ignores cgroup quotas (and is 1 inside Node): use the cores we may use,
// unless the user chose with OMP_NUM_THREADS.
if (!process.env.OMP_NUM_THREADS) native.set_num_threads(availableCores());
