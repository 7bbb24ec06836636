// Creating tensors: from JS data, and PyTorch's factory functions.
import { type DType, native } from './native.js';
import { type NestedArray, Tensor, type TypedArray } from './tensor.js';

export interface CreateOptions {
  dtype?: DType;
  device?: string;
  requiresGrad?: boolean;
}

function made(h: ReturnType<typeof native.zeros>, opts: CreateOptions): Tensor {
  const t = new Tensor(h);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Brings a tensor staged on the CPU to the requested dtype and device (freeing each stage), and sets requiresGrad. */
function finished(t: Tensor, dtype: DType, opts: CreateOptions): Tensor {
  const replace = (next: Tensor) => {
    t.dispose();
    t = next;
  };
  if (t.dtype !== dtype) replace(t.to(dtype));
  if (opts.device !== undefined && opts.device !== 'cpu') replace(t.to(opts.device as 'cpu'));
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

function shapeOf(data: NestedArray, path: string): number[] {
  if (!Array.isArray(data)) return [];
  if (data.length === 0) return [0];
  const inner = shapeOf(data[0]!, `${path}[0]`);
  for (let i = 1; i < data.length; i++) {
    const s = shapeOf(data[i]!, `${path}[${i}]`);
    if (s.length !== inner.length || s.some((v, k) => v !== inner[k]))
      throw new Error(`tensor: ragged nested array: ${path}[${i}] has shape [${s}] but ${path}[0] has [${inner}]`);
  }
  return [data.length, ...inner];
}

const INTEGER_RANGES: Partial<Record<DType, [bigint, bigint]>> = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  int8: [-128n, 127n],
  uint8: [0n, 255n],
};

/** v as an integer of `dtype`: truncated toward zero as PyTorch converts, an error where PyTorch raises (NaN, ±Inf, overflow). */
function integerOf(v: number | bigint | boolean, dtype: DType, i: number): bigint {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new RangeError(`tensor: element ${i} (flattened) is ${v}, which ${dtype} cannot hold`);
  const n = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
  const [lo, hi] = INTEGER_RANGES[dtype]!;
  if (n < lo || n > hi) throw new RangeError(`tensor: element ${i} (flattened) is ${String(v)}, outside ${dtype}'s range [${lo}, ${hi}]`);
  return n;
}

function bufferFor(dtype: DType, values: (number | bigint | boolean)[]): ArrayBufferView {
  switch (dtype) {
    case 'int64':
      return BigInt64Array.from(values, (v, i) => integerOf(v, dtype, i));
    case 'int32':
      return Int32Array.from(values, (v, i) => Number(integerOf(v, dtype, i)));
    case 'int16':
      return Int16Array.from(values, (v, i) => Number(integerOf(v, dtype, i)));
    case 'int8':
      return Int8Array.from(values, (v, i) => Number(integerOf(v, dtype, i)));
    case 'uint8':
      return Uint8Array.from(values, (v, i) => Number(integerOf(v, dtype, i)));
    case 'bool':
      return Uint8Array.from(values, (v) => (Number(v) !== 0 ? 1 : 0));
    case 'float64':
      return Float64Array.from(values, Number);
    default:
      return Float32Array.from(values, Number);
  }
}

/**
 * A tensor from nested arrays. The dtype, unless given: bool for booleans, int64 when any element
 * is a bigint (`tensor([0n, 2n])`), float32 for numbers, as `torch.tensor([1.0, 2.0])` is (a
 * JavaScript number cannot say whether it was written 1 or 1.0). Integer dtypes truncate toward
 * zero and refuse NaN, ±Infinity and values out of range, as PyTorch does.
 */
export function tensor(data: NestedArray, opts: CreateOptions = {}): Tensor {
  const shape = shapeOf(data, 'data');
  const flat: unknown[] = Array.isArray(data) ? (data as unknown[]).flat(Infinity) : [data];
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'bigint')
      throw new TypeError(`tensor: element ${i} (flattened) is ${typeof v}, not a number, bigint or boolean`);
  }
  const values = flat as (number | bigint | boolean)[];
  const dtype: DType =
    opts.dtype ?? (values.length > 0 && values.every((v) => typeof v === 'boolean') ? 'bool' : values.some((v) => typeof v === 'bigint') ? 'int64' : 'float32');
  const staging: DType = dtype === 'bfloat16' || dtype === 'float16' ? 'float32' : dtype;
  return finished(new Tensor(native.from_buffer(bufferFor(staging, values), shape, staging)), dtype, opts);
}

const TYPED_DTYPES: Array<[new (...a: never[]) => TypedArray, DType]> = [
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [BigInt64Array, 'int64'],
  [Int32Array, 'int32'],
  [Int16Array, 'int16'],
  [Int8Array, 'int8'],
  [Uint8Array, 'uint8'],
];

/**
 * A tensor holding a copy of a typed array. The dtype follows the array's type (a Uint8Array may
 * be read as 'bool'); the shape defaults to [length].
 */
export function fromTypedArray(data: TypedArray, shape?: number[], opts: CreateOptions & { pinned?: boolean } = {}): Tensor {
  const entry = TYPED_DTYPES.find(([ctor]) => data instanceof ctor);
  if (!entry) throw new TypeError('fromTypedArray: data must be a Float32Array, Float64Array, BigInt64Array, Int32Array, Int16Array, Int8Array or Uint8Array');
  let dtype = entry[1];
  if (opts.dtype === 'bool' && dtype === 'uint8') dtype = 'bool';
  return finished(new Tensor(native.from_buffer(data, shape ?? [data.length], dtype, opts.pinned ?? false)), opts.dtype ?? dtype, opts);
}

/** A tensor from raw little-endian bytes of any dtype (as weight files store them); copies. */
export function fromBytes(bytes: Uint8Array, shape: number[], dtype: DType): Tensor {
  return new Tensor(native.from_buffer(bytes, shape, dtype));
}

// PyTorch's defaults for a new tensor, here and only here (the addon requires both).
const dtypeOf = (o: CreateOptions): DType => o.dtype ?? 'float32';
const deviceOf = (o: CreateOptions): string => o.device ?? 'cpu';

export const zeros = (shape: number[], opts: CreateOptions = {}) => made(native.zeros(shape, dtypeOf(opts), deviceOf(opts)), opts);
export const ones = (shape: number[], opts: CreateOptions = {}) => made(native.ones(shape, dtypeOf(opts), deviceOf(opts)), opts);
export const empty = (shape: number[], opts: CreateOptions = {}) => made(native.empty(shape, dtypeOf(opts), deviceOf(opts)), opts);
export const full = (shape: number[], value: number | boolean, opts: CreateOptions = {}) =>
  made(native.full(shape, value, dtypeOf(opts), deviceOf(opts)), opts);
/** arange(end) or arange(start, end, step); integer arguments give int64 as in PyTorch. */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  const dtype = opts.dtype ?? ([s, e, step].every(Number.isInteger) ? 'int64' : 'float32');
  return made(native.arange(s, e, step, dtype, deviceOf(opts)), opts);
}
export const linspace = (start: number, end: number, steps: number, opts: CreateOptions = {}) =>
  made(native.linspace(start, end, steps, dtypeOf(opts), deviceOf(opts)), opts);
export const eye = (n: number, m: number = n, opts: CreateOptions = {}) => made(native.eye(n, m, dtypeOf(opts), deviceOf(opts)), opts);
export const rand = (shape: number[], opts: CreateOptions = {}) => made(native.rand(shape, dtypeOf(opts), deviceOf(opts)), opts);
export const randn = (shape: number[], opts: CreateOptions = {}) => made(native.randn(shape, dtypeOf(opts), deviceOf(opts)), opts);
/** Integers uniform in [low, high); int64 by default as in PyTorch. */
export const randint = (low: number, high: number, shape: number[], opts: CreateOptions = {}) =>
  made(native.randint(low, high, shape, opts.dtype ?? 'int64', deviceOf(opts)), opts);
export const randperm = (n: number, opts: CreateOptions = {}) => made(native.randperm(n, opts.dtype ?? 'int64', deviceOf(opts)), opts);
export const scalarTensor = (value: number | boolean, opts: CreateOptions = {}) => made(native.scalar_tensor(value, dtypeOf(opts), deviceOf(opts)), opts);

type LikeOptions = Omit<CreateOptions, 'device'>;
export const zerosLike = (t: Tensor, opts: LikeOptions = {}) => made(native.zeros_like(t.handle, opts.dtype), opts);
export const onesLike = (t: Tensor, opts: LikeOptions = {}) => made(native.ones_like(t.handle, opts.dtype), opts);
export const emptyLike = (t: Tensor, opts: LikeOptions = {}) => made(native.empty_like(t.handle, opts.dtype), opts);
export const fullLike = (t: Tensor, value: number | boolean, opts: LikeOptions = {}) => made(native.full_like(t.handle, value, opts.dtype), opts);
export const randLike = (t: Tensor, opts: LikeOptions = {}) => made(native.rand_like(t.handle, opts.dtype), opts);
export const randnLike = (t: Tensor, opts: LikeOptions = {}) => made(native.randn_like(t.handle, opts.dtype), opts);
export const randintLike = (t: Tensor, low: number, high: number, opts: LikeOptions = {}) => made(native.randint_like(t.handle, low, high, opts.dtype), opts);

// ---- free functions over several tensors ----
export const cat = (ts: Tensor[], dim = 0) =>
  new Tensor(
    native.cat(
      ts.map((t) => t.handle),
      dim,
    ),
  );
export const stack = (ts: Tensor[], dim = 0) =>
  new Tensor(
    native.stack(
      ts.map((t) => t.handle),
      dim,
    ),
  );
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  return new Tensor(native.where(cond.handle, a instanceof Tensor ? a.handle : a, b instanceof Tensor ? b.handle : b));
}
