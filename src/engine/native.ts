// Loads the native addon (native/*.cc) and types its entry points.
// Argument order follows the C++ side, which follows PyTorch's (torch.nn.functional, Tensor methods).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, NativeError, NonFiniteLogitsError } from './errors.js';

/**
 * An opaque native handle: a BigInt naming a slot that owns one reference to an at::Tensor.
 * A released handle is rejected natively (its slot's generation moved on), never dereferenced.
 */
export type Handle = bigint & { readonly __brand: 'lsr.TensorHandle' };
export type DType = 'float32' | 'float64' | 'bfloat16' | 'float16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
export type MemoryFormat = 'contiguous' | 'channels_last' | 'preserve';
export type Reduction = 'none' | 'mean' | 'sum';
/** A tensor handle or a number (passed to libtorch as a "wrapped number", like a Python scalar). */
type Operand = Handle | number | boolean;
type Opt<T> = T | undefined | null;
type Pair = [Handle, Handle];

/** What V8 is told of native memory (only tensors that left every tidy() scope count). */
export interface ExternalMemoryStats {
  /** Bytes of live handles that left every tidy() scope: only the GC or dispose() frees them. */
  escapedBytes: number;
  /** What V8 was last told (escapedBytes, netted in 16 MiB steps). */
  reportedBytes: number;
  /** The sum of every increase V8 was told of since the process started. */
  reportedIncreases: number;
}

export interface Native {
  // data in and out, metadata
  from_buffer(data: ArrayBufferView, shape: number[], dtype: DType, pinned?: boolean): Handle;
  to_bytes(t: Handle): Uint8Array;
  set_data(t: Handle, other: Handle): void;
  as_strided(t: Handle, size: number[], stride: number[], offset: number): Handle;
  to_buffer(t: Handle): Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
  item(t: Handle): number | boolean;
  shape(t: Handle): number[];
  strides(t: Handle): number[];
  dtype(t: Handle): DType;
  device(t: Handle): string;
  numel(t: Handle): number;
  dim(t: Handle): number;
  is_contiguous(t: Handle, mf: MemoryFormat): boolean;
  // creation: (..., dtype, device)
  zeros(shape: number[], dtype: DType, device: string): Handle;
  ones(shape: number[], dtype: DType, device: string): Handle;
  empty(shape: number[], dtype: DType, device: string): Handle;
  full(shape: number[], value: number | boolean, dtype: DType, device: string): Handle;
  arange(start: number, end: number, step: number, dtype: DType, device: string): Handle;
  linspace(start: number, end: number, steps: number, dtype: DType, device: string): Handle;
  eye(n: number, m: number, dtype: DType, device: string): Handle;
  rand(shape: number[], dtype: DType, device: string): Handle;
  randn(shape: number[], dtype: DType, device: string): Handle;
  randint(low: number, high: number, shape: number[], dtype: DType, device: string): Handle;
  randperm(n: number, dtype: DType, device: string): Handle;
  scalar_tensor(v: number | boolean, dtype: DType, device: string): Handle;
  zeros_like(t: Handle, dtype?: Opt<DType>): Handle;
  ones_like(t: Handle, dtype?: Opt<DType>): Handle;
  empty_like(t: Handle, dtype?: Opt<DType>): Handle;
  full_like(t: Handle, v: number | boolean, dtype?: Opt<DType>): Handle;
  rand_like(t: Handle, dtype?: Opt<DType>): Handle;
  randn_like(t: Handle, dtype?: Opt<DType>): Handle;
  randint_like(t: Handle, low: number, high: number, dtype?: Opt<DType>): Handle;
  uniform_(t: Handle, from: number, to: number): void;
  normal_(t: Handle, mean: number, std: number): void;
  // conversion
  to_dtype(t: Handle, dtype: DType, copy: boolean): Handle;
  to_device(t: Handle, device: string, copy: boolean, nonBlocking: boolean): Handle;
  pin_memory(t: Handle): Handle;
  is_pinned(t: Handle): boolean;
  contiguous(t: Handle, mf: MemoryFormat): Handle;
  clone(t: Handle, mf: MemoryFormat): Handle;
  detach(t: Handle): Handle;
  // autograd
  requires_grad(t: Handle): boolean;
  set_requires_grad(t: Handle, on: boolean): void;
  is_leaf(t: Handle): boolean;
  grad_fn_name(t: Handle): string | null;
  grad(t: Handle): Handle | undefined;
  set_grad(t: Handle, g: Opt<Handle>): void;
  retain_grad(t: Handle): void;
  backward(t: Handle, grad: Opt<Handle>, retainGraph: boolean, createGraph: boolean): void;
  set_grad_enabled(on: boolean): boolean;
  inference_mode_enter(): void;
  inference_mode_exit(): void;
  is_grad_enabled(): boolean;
  autocast_enter(device: 'cpu' | 'cuda', dtype: DType): { enabled: boolean; dtype: DType };
  autocast_exit(device: 'cpu' | 'cuda', enabled: boolean, dtype: DType, keepCache: boolean): void;
  autocast_clear_cache(): void;
  // memory, RNG, threads
  dispose(t: Handle): boolean;
  /** Counts the handle in the native memory V8 is told of (it left every tidy() scope). */
  mark_external(t: Handle): boolean;
  memory_stats(): { liveTensors: number; bytes: number };
  external_memory_stats(): ExternalMemoryStats;
  /** Registers the classes native errors are made of, by code (src/engine/errors.ts). */
  set_error_classes(classes: Record<string, new (message: string) => Error>): void;
  /** glibc: serve large blocks from the heap and never trim it (configureRuntime). */
  keep_freed_memory(): boolean;
  manual_seed(seed: number): void;
  /** A device's default generator ('cpu' or 'cuda:N'). */
  get_rng_state(device: string): Handle;
  set_rng_state(state: Handle, device: string): void;
  set_num_threads(n: number): void;
  get_num_threads(): number;
  cuda_device_count(): number;
  cuda_supports_bf16(index: number): boolean;
  cuda_synchronize(index: number): void;
  set_cudnn_benchmark(on: boolean): boolean;
  build_info(): { torchVersion: string; cudaAvailable: boolean; cudaBuild: boolean; parallel: string; config: string };
  // binary
  add(a: Operand, b: Operand, alpha: number): Handle;
  sub(a: Operand, b: Operand, alpha: number): Handle;
  mul(a: Operand, b: Operand): Handle;
  div(a: Operand, b: Operand, roundingMode?: 'trunc' | 'floor'): Handle;
  remainder(a: Operand, b: Operand): Handle;
  pow(a: Operand, b: Operand): Handle;
  maximum(a: Operand, b: Operand): Handle;
  minimum(a: Operand, b: Operand): Handle;
  eq(a: Operand, b: Operand): Handle;
  ne(a: Operand, b: Operand): Handle;
  lt(a: Operand, b: Operand): Handle;
  le(a: Operand, b: Operand): Handle;
  gt(a: Operand, b: Operand): Handle;
  ge(a: Operand, b: Operand): Handle;
  logical_and(a: Operand, b: Operand): Handle;
  logical_or(a: Operand, b: Operand): Handle;
  where(cond: Handle, a: Operand, b: Operand): Handle;
  allclose(a: Handle, b: Handle, rtol: number, atol: number, equalNan: boolean): boolean;
  equal(a: Handle, b: Handle): boolean;
  // unary
  neg(t: Handle): Handle;
  exp(t: Handle): Handle;
  expm1(t: Handle): Handle;
  log(t: Handle): Handle;
  log1p(t: Handle): Handle;
  log2(t: Handle): Handle;
  sqrt(t: Handle): Handle;
  rsqrt(t: Handle): Handle;
  abs(t: Handle): Handle;
  sign(t: Handle): Handle;
  sigmoid(t: Handle): Handle;
  tanh(t: Handle): Handle;
  relu(t: Handle): Handle;
  silu(t: Handle): Handle;
  erf(t: Handle): Handle;
  sin(t: Handle): Handle;
  square(t: Handle): Handle;
  reciprocal(t: Handle): Handle;
  floor(t: Handle): Handle;
  ceil(t: Handle): Handle;
  round(t: Handle): Handle;
  trunc(t: Handle): Handle;
  logical_not(t: Handle): Handle;
  isnan(t: Handle): Handle;
  isinf(t: Handle): Handle;
  isfinite(t: Handle): Handle;
  gelu(t: Handle, approximate: 'none' | 'tanh'): Handle;
  clamp(t: Handle, min?: Opt<number>, max?: Opt<number>): Handle;
  // in place
  add_(t: Handle, other: Operand, alpha: number): void;
  sub_(t: Handle, other: Operand, alpha: number): void;
  mul_(t: Handle, other: Operand): void;
  div_(t: Handle, other: Operand): void;
  pow_(t: Handle, other: Operand): void;
  addcmul_(t: Handle, a: Handle, b: Handle, value: number): void;
  addcdiv_(t: Handle, a: Handle, b: Handle, value: number): void;
  copy_(t: Handle, src: Handle): void;
  zero_(t: Handle): void;
  fill_(t: Handle, v: number | boolean): void;
  clamp_(t: Handle, min?: Opt<number>, max?: Opt<number>): void;
  neg_(t: Handle): void;
  sqrt_(t: Handle): void;
  exp_(t: Handle): void;
  relu_(t: Handle): void;
  lerp_(t: Handle, end: Handle, weight: Handle | number): void;
  masked_fill_(t: Handle, mask: Handle, v: Handle | number | boolean): void;
  // reductions
  sum(t: Handle, dims: Opt<number[]>, keepdim: boolean, dtype: Opt<DType>): Handle;
  mean(t: Handle, dims: Opt<number[]>, keepdim: boolean, dtype: Opt<DType>): Handle;
  prod(t: Handle, dim: Opt<number>, keepdim: boolean): Handle;
  max(t: Handle): Handle;
  max(t: Handle, dim: number, keepdim: boolean): Pair;
  min(t: Handle): Handle;
  min(t: Handle, dim: number, keepdim: boolean): Pair;
  amax(t: Handle, dims: number[], keepdim: boolean): Handle;
  amin(t: Handle, dims: number[], keepdim: boolean): Handle;
  argmax(t: Handle, dim: Opt<number>, keepdim: boolean): Handle;
  argmin(t: Handle, dim: Opt<number>, keepdim: boolean): Handle;
  logsumexp(t: Handle, dims: number[], keepdim: boolean): Handle;
  var(t: Handle, dims: Opt<number[]>, keepdim: boolean, correction: number): Handle;
  std(t: Handle, dims: Opt<number[]>, keepdim: boolean, correction: number): Handle;
  norm(t: Handle, dims: Opt<number[]>, keepdim: boolean, p: number): Handle;
  all(t: Handle, dim: Opt<number>, keepdim: boolean): Handle;
  any(t: Handle, dim: Opt<number>, keepdim: boolean): Handle;
  cumsum(t: Handle, dim: number, dtype?: Opt<DType>): Handle;
  topk(t: Handle, k: number, dim: number, largest: boolean, sorted: boolean): Pair;
  sort(t: Handle, dim: number, descending: boolean): Pair;
  argsort(t: Handle, dim: number, descending: boolean): Handle;
  mm(a: Handle, b: Handle): Handle;
  bmm(a: Handle, b: Handle): Handle;
  matmul(a: Handle, b: Handle): Handle;
  // shape
  reshape(t: Handle, shape: number[]): Handle;
  view(t: Handle, shape: number[]): Handle;
  permute(t: Handle, dims: number[]): Handle;
  transpose(t: Handle, d0: number, d1: number): Handle;
  flatten(t: Handle, start: number, end: number): Handle;
  squeeze(t: Handle, dim?: Opt<number>): Handle;
  unsqueeze(t: Handle, dim: number): Handle;
  expand(t: Handle, shape: number[]): Handle;
  cat(ts: Handle[], dim: number): Handle;
  stack(ts: Handle[], dim: number): Handle;
  split(t: Handle, sizes: number | number[], dim: number): Handle[];
  chunk(t: Handle, n: number, dim: number): Handle[];
  unbind(t: Handle, dim: number): Handle[];
  narrow(t: Handle, dim: number, start: number, length: number): Handle;
  select(t: Handle, dim: number, index: number): Handle;
  slice(t: Handle, dim: number, start: Opt<number>, end: Opt<number>, step: number): Handle;
  index_select(t: Handle, dim: number, index: Handle): Handle;
  gather(t: Handle, dim: number, index: Handle): Handle;
  scatter(t: Handle, dim: number, index: Handle, src: Handle | number): Handle;
  scatter_(t: Handle, dim: number, index: Handle, src: Handle | number): void;
  scatter_add(t: Handle, dim: number, index: Handle, src: Handle): Handle;
  scatter_add_(t: Handle, dim: number, index: Handle, src: Handle): void;
  index_add_(t: Handle, dim: number, index: Handle, src: Handle, alpha: number): void;
  masked_fill(t: Handle, mask: Handle, v: Handle | number | boolean): Handle;
  masked_select(t: Handle, mask: Handle): Handle;
  nonzero(t: Handle): Handle;
  flip(t: Handle, dims: number[]): Handle;
  roll(t: Handle, shifts: number[], dims: number[]): Handle;
  repeat(t: Handle, sizes: number[]): Handle;
  tril(t: Handle, k: number): Handle;
  triu(t: Handle, k: number): Handle;
  diagonal(t: Handle, offset: number, d0: number, d1: number): Handle;
  index(t: Handle, idx: Array<Handle | null>): Handle;
  pad(t: Handle, pad: number[], value: number): Handle;
  // nn functional
  conv2d(x: Handle, w: Handle, b: Opt<Handle>, stride: number[], padding: number[], dilation: number[], groups: number): Handle;
  batch_norm(x: Handle, w: Opt<Handle>, b: Opt<Handle>, rm: Opt<Handle>, rv: Opt<Handle>, training: boolean, momentum: number, eps: number): Handle;
  layer_norm(x: Handle, shape: number[], w: Opt<Handle>, b: Opt<Handle>, eps: number): Handle;
  linear(x: Handle, w: Handle, b?: Opt<Handle>): Handle;
  max_pool2d(x: Handle, k: number[], stride: number[], padding: number[], dilation: number[], ceil: boolean): Handle;
  avg_pool2d(x: Handle, k: number[], stride: number[], padding: number[], ceil: boolean, countIncludePad: boolean, divisor?: Opt<number>): Handle;
  adaptive_avg_pool2d(x: Handle, size: number[]): Handle;
  dropout(x: Handle, p: number, train: boolean): Handle;
  softmax(x: Handle, dim: number, dtype?: Opt<DType>): Handle;
  log_softmax(x: Handle, dim: number, dtype?: Opt<DType>): Handle;
  nll_loss(x: Handle, target: Handle, weight: Opt<Handle>, reduction: Reduction, ignoreIndex: number): Handle;
  // image kernels for the data loader (no tensors: safe in worker threads)
  set_thread_nice(n: number): void;
  decode_jpeg(bytes: Uint8Array): NativeImage;
  encode_jpeg(data: Uint8Array, width: number, height: number, channels: number, quality: number): Buffer;
  resample(
    data: Uint8Array,
    width: number,
    height: number,
    channels: number,
    box: [number, number, number, number],
    outWidth: number,
    outHeight: number,
    hflip: boolean,
    vflip: boolean,
  ): NativeImage;
  normalize_chw(
    data: Uint8Array,
    width: number,
    height: number,
    channels: number,
    outChannels: number,
    mean: number[],
    std: number[],
    out: Float32Array,
    offset: number,
  ): void;
  label_smoothed_cross_entropy(x: Handle, target: Handle, weight: Opt<Handle>, reduction: Reduction, ignoreIndex: number, smoothing: number): Handle;
  cross_entropy(x: Handle, target: Handle, weight: Opt<Handle>, reduction: Reduction, ignoreIndex: number, smoothing: number): Handle;
  kl_div(x: Handle, target: Handle, reduction: Reduction, logTarget: boolean): Handle;
  mse_loss(x: Handle, target: Handle, reduction: Reduction): Handle;
  one_hot(t: Handle, numClasses: number): Handle;
  interpolate(x: Handle, size: number[], mode: 'bilinear' | 'nearest', alignCorners: boolean): Handle;
  // distributed (c10d: TCPStore + Gloo); one process group per process
  dist_available(): boolean;
  dist_init(host: string, port: number, rank: number, worldSize: number, timeoutMs: number, ifname: string): void;
  dist_destroy(): void;
  dist_allreduce(ts: Handle[], op: 'sum' | 'mean' | 'max' | 'min', bucketBytes: number): void;
  dist_broadcast(ts: Handle[], root: number): void;
  dist_allgather(t: Handle): Handle;
  dist_barrier(): void;
  dist_liveness(waitMs: number): Array<{ rank: number; alive: boolean; who: string }>;
  ddp_reducer_create(params: Handle[], bucketBytes: number, firstBucketBytes: number): number;
  ddp_reducer_prepare(id: number): void;
  ddp_reducer_finish(id: number): void;
  ddp_reducer_dispose(id: number): boolean;
  ddp_reducer_stats(): { reducers: number; bytes: number };
  sync_batch_norm(x: Handle, w: Opt<Handle>, b: Opt<Handle>, rm: Opt<Handle>, rv: Opt<Handle>, momentum: number, eps: number): Handle;
  // multi-tensor optimizer steps (optim.cc): one call per group of parameters of one device and dtype
  /** Returns the momentum buffers it made (where `momentumBuffers` held null), undefined elsewhere. */
  multi_tensor_sgd(
    params: Handle[],
    grads: Handle[],
    momentumBuffers: Array<Handle | null>,
    lr: number,
    weightDecay: number,
    momentum: number,
    dampening: number,
    nesterov: boolean,
  ): Array<Handle | undefined>;
  multi_tensor_adam(
    params: Handle[],
    grads: Handle[],
    expAvgs: Handle[],
    expAvgSqs: Handle[],
    maxExpAvgSqs: Handle[],
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    paramDecay: number | null,
    biasCorrection2Sqrt: number[],
    stepSize: number[],
  ): void;
  multi_tensor_rmsprop(
    params: Handle[],
    grads: Handle[],
    squareAvgs: Handle[],
    gradAvgs: Handle[],
    momentumBuffers: Handle[],
    lr: number,
    alpha: number,
    eps: number,
    weightDecay: number,
    momentum: number,
    centered: boolean,
  ): void;
}

/**
 * Every op the addon exports, by name. The compiler checks that it names every member of Native
 * (and nothing else); a test checks that it is exactly what the built addon exports.
 */
export const NATIVE_OPS = [
  'abs',
  'adaptive_avg_pool2d',
  'add',
  'add_',
  'addcdiv_',
  'addcmul_',
  'all',
  'allclose',
  'amax',
  'amin',
  'any',
  'arange',
  'argmax',
  'argmin',
  'argsort',
  'as_strided',
  'autocast_clear_cache',
  'autocast_enter',
  'autocast_exit',
  'avg_pool2d',
  'backward',
  'batch_norm',
  'bmm',
  'build_info',
  'cat',
  'ceil',
  'chunk',
  'clamp',
  'clamp_',
  'clone',
  'contiguous',
  'conv2d',
  'copy_',
  'cross_entropy',
  'cuda_device_count',
  'cuda_supports_bf16',
  'cuda_synchronize',
  'cumsum',
  'ddp_reducer_create',
  'ddp_reducer_dispose',
  'ddp_reducer_finish',
  'ddp_reducer_prepare',
  'ddp_reducer_stats',
  'decode_jpeg',
  'detach',
  'device',
  'diagonal',
  'dim',
  'dispose',
  'dist_allgather',
  'dist_allreduce',
  'dist_available',
  'dist_barrier',
  'dist_broadcast',
  'dist_destroy',
  'dist_init',
  'dist_liveness',
  'div',
  'div_',
  'dropout',
  'dtype',
  'empty',
  'empty_like',
  'encode_jpeg',
  'eq',
  'equal',
  'erf',
  'exp',
  'exp_',
  'expand',
  'expm1',
  'external_memory_stats',
  'eye',
  'fill_',
  'flatten',
  'flip',
  'floor',
  'from_buffer',
  'full',
  'full_like',
  'gather',
  'ge',
  'gelu',
  'get_num_threads',
  'get_rng_state',
  'grad',
  'grad_fn_name',
  'gt',
  'index',
  'index_add_',
  'index_select',
  'inference_mode_enter',
  'inference_mode_exit',
  'interpolate',
  'is_contiguous',
  'is_grad_enabled',
  'is_leaf',
  'is_pinned',
  'isfinite',
  'isinf',
  'isnan',
  'item',
  'keep_freed_memory',
  'kl_div',
  'label_smoothed_cross_entropy',
  'layer_norm',
  'le',
  'lerp_',
  'linear',
  'linspace',
  'log',
  'log1p',
  'log2',
  'log_softmax',
  'logical_and',
  'logical_not',
  'logical_or',
  'logsumexp',
  'lt',
  'manual_seed',
  'mark_external',
  'masked_fill',
  'masked_fill_',
  'masked_select',
  'matmul',
  'max',
  'max_pool2d',
  'maximum',
  'mean',
  'memory_stats',
  'min',
  'minimum',
  'mm',
  'mse_loss',
  'mul',
  'mul_',
  'multi_tensor_adam',
  'multi_tensor_rmsprop',
  'multi_tensor_sgd',
  'narrow',
  'ne',
  'neg',
  'neg_',
  'nll_loss',
  'nonzero',
  'norm',
  'normal_',
  'normalize_chw',
  'numel',
  'one_hot',
  'ones',
  'ones_like',
  'pad',
  'permute',
  'pin_memory',
  'pow',
  'pow_',
  'prod',
  'rand',
  'rand_like',
  'randint',
  'randint_like',
  'randn',
  'randn_like',
  'randperm',
  'reciprocal',
  'relu',
  'relu_',
  'remainder',
  'repeat',
  'requires_grad',
  'resample',
  'reshape',
  'retain_grad',
  'roll',
  'round',
  'rsqrt',
  'scalar_tensor',
  'scatter',
  'scatter_',
  'scatter_add',
  'scatter_add_',
  'select',
  'set_cudnn_benchmark',
  'set_data',
  'set_error_classes',
  'set_grad',
  'set_grad_enabled',
  'set_num_threads',
  'set_requires_grad',
  'set_rng_state',
  'set_thread_nice',
  'shape',
  'sigmoid',
  'sign',
  'silu',
  'sin',
  'slice',
  'softmax',
  'sort',
  'split',
  'sqrt',
  'sqrt_',
  'square',
  'squeeze',
  'stack',
  'std',
  'strides',
  'sub',
  'sub_',
  'sum',
  'sync_batch_norm',
  'tanh',
  'to_buffer',
  'to_bytes',
  'to_device',
  'to_dtype',
  'topk',
  'transpose',
  'tril',
  'triu',
  'trunc',
  'unbind',
  'uniform_',
  'unsqueeze',
  'var',
  'view',
  'where',
  'zero_',
  'zeros',
  'zeros_like',
] as const satisfies ReadonlyArray<keyof Native>;
type Unlisted = Exclude<keyof Native, (typeof NATIVE_OPS)[number]>;
// A member of Native missing from NATIVE_OPS makes this line an error that names it.
export const everyOpListed: [Unlisted] extends [never] ? true : Unlisted = true;

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
/** Pixels, height × width × channels, uint8 (the data loader's RawImage). */
export interface NativeImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

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
