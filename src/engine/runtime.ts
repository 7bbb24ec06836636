// Process-wide engine state: grad mode, autocast, RNG, threads, memory statistics.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { cuda, deviceIndex, isCuda } from './device.js';
import { checkRange } from './values.js';
import { type DType, type ExternalMemoryStats, native } from './native.js';
import { type Device, Tensor } from './tensor.js';

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
  return guarded(
    () => (prev = native.set_grad_enabled(false)),
    () => native.set_grad_enabled(prev),
    fn,
  );
}
/**
 * Runs fn in inference mode (torch.inference_mode): no autograd recording at all, cheaper than
 * noGrad. Tensors made inside cannot take part in autograd later.
 */
export function inferenceMode<T>(fn: () => T): T {
  return guarded(
    () => native.inference_mode_enter(),
    () => native.inference_mode_exit(),
    fn,
  );
}
/** Runs fn with gradient recording on (torch.enable_grad). */
export function enableGrad<T>(fn: () => T): T {
  let prev = true;
  return guarded(
    () => (prev = native.set_grad_enabled(true)),
    () => native.set_grad_enabled(prev),
    fn,
  );
}
export const isGradEnabled = (): boolean => native.is_grad_enabled();

export interface AutocastOptions {
  /** 'bfloat16' (CPU and CUDA) or 'float16' (CUDA). */
  dtype?: DType;
  deviceType?: 'cpu' | 'cuda';
  enabled?: boolean;
  /**
   * Keep the weights' low-precision copies after the region (they are reused by the next one):
   * for inference over many batches with unchanged weights. Call clearAutocastCache() after.
   */
  keepCache?: boolean;
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
    () => native.autocast_exit(device, prev.enabled, prev.dtype, opts.keepCache ?? false),
    fn,
  );
}

/** Frees the weights' low-precision copies kept by autocast({ keepCache: true }). */
export function clearAutocastCache(): void {
  native.autocast_clear_cache();
}

/** Seeds libtorch's default generator (torch.manual_seed). */
export function manualSeed(seed: number): void {
  native.manual_seed(seed);
}
/**
 * A device's default generator state as a uint8 tensor on the CPU, for checkpoints: the CPU's
 * (torch.get_rng_state) or a CUDA device's (torch.cuda.get_rng_state), through the same code.
 */
export const getRngState = (device: Device = 'cpu'): Tensor => new Tensor(native.get_rng_state(device));
export const setRngState = (state: Tensor, device: Device = 'cpu'): void => native.set_rng_state(state.handle, device);

/**
 * Threads per core beyond which a thread count is refused. Intra-op threads beyond the cores only
 * take turns on them (a parallel region waits for its slowest), so even a few per core is a
 * slowdown; libtorch (OpenMP) starts every thread asked for, and 100,000 of them hang the process.
 */
export const THREADS_PER_CORE = 4;

/** The most threads a process may ask for (libtorch's, or the loader's workers): THREADS_PER_CORE × the cores it may use. */
export const maxThreads = (): number => THREADS_PER_CORE * availableCores();

/**
 * Sets libtorch's intra-op thread count (torch.set_num_threads): a positive integer up to
 * maxThreads() (`what` names the value in the message, e.g. '--threads').
 */
export function setNumThreads(n: number, what = 'setNumThreads'): void {
  native.set_num_threads(checkThreads(n, what));
}

/** n, when it is a thread count this process may ask for; else a BadInputError naming `what`. */
export function checkThreads(n: number, what: string): number {
  const most = maxThreads();
  return checkRange(n, what, { integer: true, min: 1, max: most, note: `at most ${THREADS_PER_CORE} per core: ${availableCores()} cores here` });
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

/** What /proc/cpuinfo says of the CPU: its model name and the bfloat16 flags it reports. */
export function cpuFeatures(): { model: string; bf16Flags: string[] } {
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return { model: 'unknown CPU (no /proc/cpuinfo)', bf16Flags: [] };
  }
  const field = (name: string) =>
    info
      .split('\n')
      .find((l) => l.startsWith(name))
      ?.split(':')
      .slice(1)
      .join(':')
      .trim() ?? '';
  const flags = ` ${field('flags')} `;
  return { model: field('model name') || 'unknown CPU', bf16Flags: ['amx_bf16', 'avx512_bf16'].filter((f) => flags.includes(` ${f} `)) };
}

/**
 * Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16 in /proc/cpuinfo).
 * LSR_CPU_BF16=0|1 overrides the answer (tests simulate other CPUs with it).
 */
export function cpuSupportsBf16(): { supported: boolean; reason: string } {
  const forced = process.env.LSR_CPU_BF16;
  if (forced === '0' || forced === '1') return { supported: forced === '1', reason: `LSR_CPU_BF16=${forced}` };
  const found = cpuFeatures().bf16Flags;
  return found.length ? { supported: true, reason: found.join(', ') } : { supported: false, reason: 'no AVX512-BF16 or AMX-BF16' };
}

/** 'fp64' runs everything in float64: slow, for numerical checks (rounding that does not grow into the results). */
export type Precision = 'auto' | 'fp32' | 'bf16' | 'fp64';
export type ResolvedPrecision = Exclude<Precision, 'auto'>;
/**
 * 'auto' is bf16 where the device computes it natively, fp32 elsewhere. On the CPU, measured
 * (bench/precision), bf16 trains faster with AVX512-BF16 alone as with AMX: 1.65× (resnet20 28²)
 * and 2.0× (resnet50 224²) on AMD Zen 4, 1.65× and 2.3× on Intel Sapphire Rapids. On a CUDA
 * device: bf16 from compute capability 8.0 (Ampere), else fp32, whose convolutions cuDNN runs in
 * TF32 (libtorch's default, as PyTorch's).
 */
export function resolvePrecision(p: Precision, device: string = 'cpu'): { precision: ResolvedPrecision; reason: string } {
  if (p !== 'auto') return { precision: p, reason: 'chosen' };
  if (isCuda(device)) {
    const bf16 = cuda.supportsBf16(deviceIndex(device));
    return bf16
      ? { precision: 'bf16', reason: `${device} computes bf16 (compute capability ≥ 8.0)` }
      : { precision: 'fp32', reason: `${device} has no bf16 convolutions (compute capability < 8.0): fp32, TF32 convolutions` };
  }
  const cpu = cpuSupportsBf16();
  return { precision: cpu.supported ? 'bf16' : 'fp32', reason: cpu.reason };
}

/** Live tensor handles and the bytes their storages hold (a storage shared by views counts per handle). */
export const memoryStats = (): { liveTensors: number; bytes: number } => native.memory_stats();
/** What V8 is told of native memory: the bytes only the GC may free drive its collections. */
export const externalMemoryStats = (): ExternalMemoryStats => native.external_memory_stats();
export const buildInfo = () => native.build_info();

export interface RuntimeOptions {
  /** Intra-op threads (default: OMP_NUM_THREADS if set, else the cores this process may use). */
  threads?: number;
  /**
   * 'keep' (default; LSR_MALLOC=system overrides): glibc serves large blocks from its heap and
   * never trims it, so each training step reuses the last one's memory instead of faulting it in
   * again (see native/core.cc). 'system' leaves glibc's defaults.
   */
  malloc?: 'keep' | 'system';
}

/**
 * The process-wide settings a training process wants: libtorch's thread count (its own default
 * ignores cgroup quotas) and the malloc policy. Importing lsr changes neither; the CLI and the
 * benchmarks call this once at start, and so should a training script that owns its process.
 */
export function configureRuntime(o: RuntimeOptions = {}): { threads: number; malloc: 'keep' | 'system' } {
  const fromEnv = Number(process.env.OMP_NUM_THREADS);
  const threads = o.threads ?? (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : availableCores());
  setNumThreads(threads, o.threads === undefined && Number.isInteger(fromEnv) && fromEnv > 0 ? 'OMP_NUM_THREADS' : 'configureRuntime: threads');
  const malloc = o.malloc ?? (process.env.LSR_MALLOC === 'system' ? 'system' : 'keep');
  if (malloc === 'keep') native.keep_freed_memory();
  return { threads, malloc };
}
