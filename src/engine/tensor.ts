// The Tensor class: a JS owner of one native handle, with PyTorch's method names in camelCase.
import { type DType, type Handle, type MemoryFormat, native } from './native.js';
import { tensorRepr } from './repr.js';
import { type Owned, keep, track } from './scope.js';

export type { DType, MemoryFormat } from './native.js';
export type Scalar = number | boolean;
export type TensorLike = Tensor | number | boolean;
export type Device = 'cpu' | `cuda:${number}` | 'cuda';
export type TypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
/** Nested JS arrays, as toArray() returns them. */
export type NestedArray = number | bigint | boolean | NestedArray[];

export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float64', 'bfloat16', 'float16'];

function operand(x: TensorLike): Handle | number | boolean {
  return x instanceof Tensor ? x.handle : x;
}

function dims(d: number | number[] | undefined | null): number[] | undefined {
  if (d === undefined || d === null) return undefined;
  return typeof d === 'number' ? [d] : d;
}

// The GC backstop: a tensor that was never disposed releases its handle when collected.
// Tensors inside a tidy() scope are registered only if they leave it (keep(), or returned from
// the outermost scope): a training loop's many short-lived tensors never touch the registry.
const finalizer = new FinalizationRegistry<Handle>((h) => native.dispose(h));

export class Tensor implements Owned {
  #h: Handle | null;
  #registered = false;

  /** Wraps a native handle; the new tensor belongs to the innermost tidy() scope. */
  constructor(handle: Handle) {
    this.#h = handle;
    if (!track(this)) this.escape();
  }

  /** @internal Hands the tensor to the GC backstop (it left every tidy() scope). */
  escape(): void {
    if (this.#registered || this.#h === null) return;
    finalizer.register(this, this.#h, this);
    // Only now does V8 hear of its bytes: a scope's tensors are freed by the scope, not the GC.
    native.mark_external(this.#h);
    this.#registered = true;
  }

  /** The native handle; throws once the tensor is disposed. */
  get handle(): Handle {
    if (this.#h === null) throw new Error('Tensor was used after dispose()');
    return this.#h;
  }

  // ---- lifetime ----
  /** Frees the native memory now (idempotent). */
  dispose(): void {
    if (this.#h === null) return;
    if (this.#registered) finalizer.unregister(this);
    native.dispose(this.#h);
    this.#h = null;
  }
  get isDisposed(): boolean {
    return this.#h === null;
  }
  /** Exempts this tensor from enclosing tidy() scopes. */
  keep(): this {
    return keep(this);
  }

  // ---- metadata ----
  get shape(): number[] {
    return native.shape(this.handle);
  }
  get dtype(): DType {
    return native.dtype(this.handle);
  }
  get device(): string {
    return native.device(this.handle);
  }
  get ndim(): number {
    return native.dim(this.handle);
  }
  dim(): number {
    return native.dim(this.handle);
  }
  numel(): number {
    return native.numel(this.handle);
  }
  size(dim?: number): number | number[] {
    const s = this.shape;
    if (dim === undefined) return s;
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`size: dim ${dim} out of range for a ${s.length}-d tensor`);
    return s[d]!;
  }
  stride(): number[] {
    return native.strides(this.handle);
  }
  isContiguous(memoryFormat: MemoryFormat = 'contiguous'): boolean {
    return native.is_contiguous(this.handle, memoryFormat);
  }
  get isFloatingPoint(): boolean {
    return FLOAT_DTYPES.includes(this.dtype);
  }
  toString(): string {
    return this.#h === null ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape}], dtype=${this.dtype}, device=${this.device})`;
  }
  /** console.log and util.inspect show the values as PyTorch's repr does. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    if (this.#h === null) return 'Tensor(disposed)';
    return tensorRepr({
      shape: this.shape,
      dtype: this.dtype,
      values: this.toFlatArray().map(Number),
      device: this.device,
      requiresGrad: this.requiresGrad,
      isLeaf: this.isLeaf,
      gradFn: this.gradFn,
    });
  }

  // ---- data out ----
  /** The single value of a one-element tensor. */
  item(): number {
    return Number(native.item(this.handle));
  }
  /** A contiguous CPU copy as a typed array (int64 as BigInt64Array, bool as Uint8Array, half floats as Float32Array). */
  data(): TypedArray {
    return native.to_buffer(this.handle);
  }
  /** The raw little-endian bytes of the values (row-major), for any dtype: what weight files store. */
  bytes(): Uint8Array {
    return native.to_bytes(this.handle);
  }
  /**
   * Python's `t.data = other`: this tensor keeps its identity (optimizers and modules holding it
   * stay valid) and takes other's values, dtype and device.
   */
  setData(other: Tensor): this {
    native.set_data(this.handle, other.handle);
    return this;
  }
  /** The values as a flat array of numbers (int64 converted with Number()). */
  toFlatArray(): number[] {
    const d = this.data();
    return d instanceof BigInt64Array ? Array.from(d, Number) : Array.from(d as ArrayLike<number>);
  }
  /** The values as nested arrays of the tensor's shape (booleans for bool tensors). */
  toArray(): NestedArray {
    const flat = this.toFlatArray();
    const values: (number | boolean)[] = this.dtype === 'bool' ? flat.map((v) => v !== 0) : flat;
    const shape = this.shape;
    if (shape.length === 0) return values[0]!;
    let pos = 0;
    const build = (d: number): NestedArray[] => {
      const out: NestedArray[] = [];
      for (let i = 0; i < shape[d]!; i++) out.push(d === shape.length - 1 ? values[pos++]! : build(d + 1));
      return out;
    };
    return build(0);
  }

  // ---- conversion ----
  /**
   * Casts to a dtype or moves to a device ('cpu', 'cuda:0'). Returns a new handle even when nothing
   * changes. nonBlocking: a copy from pinned memory to a CUDA device returns before it is done (the
   * device's stream orders what uses the result).
   */
  to(target: DType | Device, opts: { copy?: boolean; nonBlocking?: boolean } = {}): Tensor {
    if (target === 'cpu' || target.startsWith('cuda')) return new Tensor(native.to_device(this.handle, target, opts.copy ?? false, opts.nonBlocking ?? false));
    return new Tensor(native.to_dtype(this.handle, target as DType, opts.copy ?? false));
  }
  /** A copy in page-locked host memory, which a CUDA device copies from asynchronously (needs a CUDA build). */
  pinMemory(): Tensor {
    return new Tensor(native.pin_memory(this.handle));
  }
  get isPinned(): boolean {
    return native.is_pinned(this.handle);
  }
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  long(): Tensor {
    return this.to('int64');
  }
  contiguous(memoryFormat: MemoryFormat = 'contiguous'): Tensor {
    return new Tensor(native.contiguous(this.handle, memoryFormat));
  }
  clone(memoryFormat: MemoryFormat = 'preserve'): Tensor {
    return new Tensor(native.clone(this.handle, memoryFormat));
  }
  detach(): Tensor {
    return new Tensor(native.detach(this.handle));
  }

  // ---- autograd ----
  get requiresGrad(): boolean {
    return native.requires_grad(this.handle);
  }
  set requiresGrad(on: boolean) {
    native.set_requires_grad(this.handle, on);
  }
  requiresGrad_(on = true): this {
    native.set_requires_grad(this.handle, on);
    return this;
  }
  get isLeaf(): boolean {
    return native.is_leaf(this.handle);
  }
  get gradFn(): string | null {
    return native.grad_fn_name(this.handle);
  }
  /** The accumulated gradient as a new handle (dispose it, or read it inside tidy()), or undefined. */
  get grad(): Tensor | undefined {
    const g = native.grad(this.handle);
    return g === undefined ? undefined : new Tensor(g);
  }
  set grad(g: Tensor | undefined) {
    native.set_grad(this.handle, g?.handle);
  }
  retainGrad(): this {
    native.retain_grad(this.handle);
    return this;
  }
  /** As PyTorch's: `retainGraph` defaults to `createGraph` (a gradient with a graph is differentiated again through this one). */
  backward(grad?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    const createGraph = opts.createGraph ?? false;
    native.backward(this.handle, grad?.handle, opts.retainGraph ?? createGraph, createGraph);
  }

  // ---- elementwise (broadcasting; numbers act as Python scalars) ----
  add(other: TensorLike, alpha = 1): Tensor {
    return new Tensor(native.add(this.handle, operand(other), alpha));
  }
  sub(other: TensorLike, alpha = 1): Tensor {
    return new Tensor(native.sub(this.handle, operand(other), alpha));
  }
  /** other - this (PyTorch's rsub). */
  rsub(other: TensorLike): Tensor {
    return new Tensor(native.sub(operand(other), this.handle, 1));
  }
  // ---- generated by scripts/gen-ops.mjs from native/ops.table (npm run gen:ops): do not edit ----
  mul(other: TensorLike): Tensor {
    return new Tensor(native.mul(this.handle, operand(other)));
  }
  div(other: TensorLike, roundingMode?: 'trunc' | 'floor'): Tensor {
    return new Tensor(native.div(this.handle, operand(other), roundingMode));
  }
  remainder(other: TensorLike): Tensor {
    return new Tensor(native.remainder(this.handle, operand(other)));
  }
  pow(exponent: TensorLike): Tensor {
    return new Tensor(native.pow(this.handle, operand(exponent)));
  }
  maximum(other: TensorLike): Tensor {
    return new Tensor(native.maximum(this.handle, operand(other)));
  }
  minimum(other: TensorLike): Tensor {
    return new Tensor(native.minimum(this.handle, operand(other)));
  }
  eq(other: TensorLike): Tensor {
    return new Tensor(native.eq(this.handle, operand(other)));
  }
  ne(other: TensorLike): Tensor {
    return new Tensor(native.ne(this.handle, operand(other)));
  }
  lt(other: TensorLike): Tensor {
    return new Tensor(native.lt(this.handle, operand(other)));
  }
  le(other: TensorLike): Tensor {
    return new Tensor(native.le(this.handle, operand(other)));
  }
  gt(other: TensorLike): Tensor {
    return new Tensor(native.gt(this.handle, operand(other)));
  }
  ge(other: TensorLike): Tensor {
    return new Tensor(native.ge(this.handle, operand(other)));
  }
  logicalAnd(other: TensorLike): Tensor {
    return new Tensor(native.logical_and(this.handle, operand(other)));
  }
  logicalOr(other: TensorLike): Tensor {
    return new Tensor(native.logical_or(this.handle, operand(other)));
  }
  /** torch.atan2(y, x), elementwise: the angle of the point (x, y), in [-π, π], its quadrant from both signs. */
  atan2(other: TensorLike): Tensor {
    return new Tensor(native.atan2(this.handle, operand(other)));
  }
  neg(): Tensor {
    return new Tensor(native.neg(this.handle));
  }
  exp(): Tensor {
    return new Tensor(native.exp(this.handle));
  }
  expm1(): Tensor {
    return new Tensor(native.expm1(this.handle));
  }
  log(): Tensor {
    return new Tensor(native.log(this.handle));
  }
  log1p(): Tensor {
    return new Tensor(native.log1p(this.handle));
  }
  log2(): Tensor {
    return new Tensor(native.log2(this.handle));
  }
  sqrt(): Tensor {
    return new Tensor(native.sqrt(this.handle));
  }
  rsqrt(): Tensor {
    return new Tensor(native.rsqrt(this.handle));
  }
  abs(): Tensor {
    return new Tensor(native.abs(this.handle));
  }
  sign(): Tensor {
    return new Tensor(native.sign(this.handle));
  }
  sigmoid(): Tensor {
    return new Tensor(native.sigmoid(this.handle));
  }
  tanh(): Tensor {
    return new Tensor(native.tanh(this.handle));
  }
  relu(): Tensor {
    return new Tensor(native.relu(this.handle));
  }
  erf(): Tensor {
    return new Tensor(native.erf(this.handle));
  }
  square(): Tensor {
    return new Tensor(native.square(this.handle));
  }
  reciprocal(): Tensor {
    return new Tensor(native.reciprocal(this.handle));
  }
  floor(): Tensor {
    return new Tensor(native.floor(this.handle));
  }
  ceil(): Tensor {
    return new Tensor(native.ceil(this.handle));
  }
  round(): Tensor {
    return new Tensor(native.round(this.handle));
  }
  logicalNot(): Tensor {
    return new Tensor(native.logical_not(this.handle));
  }
  isnan(): Tensor {
    return new Tensor(native.isnan(this.handle));
  }
  isinf(): Tensor {
    return new Tensor(native.isinf(this.handle));
  }
  isfinite(): Tensor {
    return new Tensor(native.isfinite(this.handle));
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return new Tensor(native.clamp(this.handle, min, max));
  }
  // ---- end of the generated methods ----
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor {
    return new Tensor(native.gelu(this.handle, approximate));
  }
  allclose(other: Tensor, rtol = 1e-5, atol = 1e-8, equalNan = false): boolean {
    return native.allclose(this.handle, other.handle, rtol, atol, equalNan);
  }
  equal(other: Tensor): boolean {
    return native.equal(this.handle, other.handle);
  }

  // ---- in place (return this) ----
  add_(other: TensorLike, alpha = 1): this {
    native.add_(this.handle, operand(other), alpha);
    return this;
  }
  sub_(other: TensorLike, alpha = 1): this {
    native.sub_(this.handle, operand(other), alpha);
    return this;
  }
  mul_(other: TensorLike): this {
    native.mul_(this.handle, operand(other));
    return this;
  }
  div_(other: TensorLike): this {
    native.div_(this.handle, operand(other));
    return this;
  }
  pow_(exponent: TensorLike): this {
    native.pow_(this.handle, operand(exponent));
    return this;
  }
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this {
    native.addcmul_(this.handle, t1.handle, t2.handle, value);
    return this;
  }
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this {
    native.addcdiv_(this.handle, t1.handle, t2.handle, value);
    return this;
  }
  copy_(src: Tensor): this {
    native.copy_(this.handle, src.handle);
    return this;
  }
  zero_(): this {
    native.zero_(this.handle);
    return this;
  }
  fill_(value: Scalar): this {
    native.fill_(this.handle, value);
    return this;
  }
  clamp_(min?: number | null, max?: number | null): this {
    native.clamp_(this.handle, min, max);
    return this;
  }
  neg_(): this {
    native.neg_(this.handle);
    return this;
  }
  sqrt_(): this {
    native.sqrt_(this.handle);
    return this;
  }
  exp_(): this {
    native.exp_(this.handle);
    return this;
  }
  relu_(): this {
    native.relu_(this.handle);
    return this;
  }
  lerp_(end: Tensor, weight: TensorLike): this {
    native.lerp_(this.handle, end.handle, weight instanceof Tensor ? weight.handle : Number(weight));
    return this;
  }
  maskedFill_(mask: Tensor, value: TensorLike): this {
    native.masked_fill_(this.handle, mask.handle, operand(value));
    return this;
  }
  uniform_(from = 0, to = 1): this {
    native.uniform_(this.handle, from, to);
    return this;
  }
  normal_(mean = 0, std = 1): this {
    native.normal_(this.handle, mean, std);
    return this;
  }
  scatter_(dim: number, index: Tensor, src: Tensor | number): this {
    native.scatter_(this.handle, dim, index.handle, src instanceof Tensor ? src.handle : src);
    return this;
  }
  scatterAdd_(dim: number, index: Tensor, src: Tensor): this {
    native.scatter_add_(this.handle, dim, index.handle, src.handle);
    return this;
  }
  indexAdd_(dim: number, index: Tensor, src: Tensor, alpha = 1): this {
    native.index_add_(this.handle, dim, index.handle, src.handle, alpha);
    return this;
  }

  // ---- reductions ----
  sum(dim?: number | number[] | null, keepdim = false, opts: { dtype?: DType } = {}): Tensor {
    return new Tensor(native.sum(this.handle, dims(dim), keepdim, opts.dtype));
  }
  mean(dim?: number | number[] | null, keepdim = false, opts: { dtype?: DType } = {}): Tensor {
    return new Tensor(native.mean(this.handle, dims(dim), keepdim, opts.dtype));
  }
  prod(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.prod(this.handle, dim, keepdim));
  }
  /** max() -> the largest value; max(dim) -> [values, indices]. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): [Tensor, Tensor];
  max(dim?: number, keepdim = false): Tensor | [Tensor, Tensor] {
    if (dim === undefined) return new Tensor(native.max(this.handle));
    const [v, i] = native.max(this.handle, dim, keepdim);
    return [new Tensor(v), new Tensor(i)];
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): [Tensor, Tensor];
  min(dim?: number, keepdim = false): Tensor | [Tensor, Tensor] {
    if (dim === undefined) return new Tensor(native.min(this.handle));
    const [v, i] = native.min(this.handle, dim, keepdim);
    return [new Tensor(v), new Tensor(i)];
  }
  amax(dim?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.amax(this.handle, dims(dim) ?? [], keepdim));
  }
  amin(dim?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.amin(this.handle, dims(dim) ?? [], keepdim));
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.argmax(this.handle, dim, keepdim));
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.argmin(this.handle, dim, keepdim));
  }
  logsumexp(dim: number | number[], keepdim = false): Tensor {
    return new Tensor(native.logsumexp(this.handle, dims(dim)!, keepdim));
  }
  /** Variance; correction 1 (Bessel, PyTorch's default) or 0. */
  var(dim?: number | number[] | null, keepdim = false, correction = 1): Tensor {
    return new Tensor(native.var(this.handle, dims(dim), keepdim, correction));
  }
  std(dim?: number | number[] | null, keepdim = false, correction = 1): Tensor {
    return new Tensor(native.std(this.handle, dims(dim), keepdim, correction));
  }
  norm(p = 2, dim?: number | number[] | null, keepdim = false): Tensor {
    return new Tensor(native.norm(this.handle, dims(dim), keepdim, p));
  }
  all(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.all(this.handle, dim, keepdim));
  }
  any(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.any(this.handle, dim, keepdim));
  }
  cumsum(dim: number, opts: { dtype?: DType } = {}): Tensor {
    return new Tensor(native.cumsum(this.handle, dim, opts.dtype));
  }
  topk(k: number, dim = -1, largest = true, sorted = true): [Tensor, Tensor] {
    const [v, i] = native.topk(this.handle, k, dim, largest, sorted);
    return [new Tensor(v), new Tensor(i)];
  }
  /** A stable sort: [values, indices]. */
  sort(dim = -1, descending = false): [Tensor, Tensor] {
    const [v, i] = native.sort(this.handle, dim, descending);
    return [new Tensor(v), new Tensor(i)];
  }
  argsort(dim = -1, descending = false): Tensor {
    return new Tensor(native.argsort(this.handle, dim, descending));
  }

  // ---- matrix products ----
  mm(other: Tensor): Tensor {
    return new Tensor(native.mm(this.handle, other.handle));
  }
  bmm(other: Tensor): Tensor {
    return new Tensor(native.bmm(this.handle, other.handle));
  }
  matmul(other: Tensor): Tensor {
    return new Tensor(native.matmul(this.handle, other.handle));
  }

  // ---- shape ----
  reshape(...shape: number[] | [number[]]): Tensor {
    return new Tensor(native.reshape(this.handle, shape.flat()));
  }
  view(...shape: number[] | [number[]]): Tensor {
    return new Tensor(native.view(this.handle, shape.flat()));
  }
  permute(...order: number[] | [number[]]): Tensor {
    return new Tensor(native.permute(this.handle, order.flat()));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return new Tensor(native.transpose(this.handle, dim0, dim1));
  }
  /** The 2-D transpose. */
  t(): Tensor {
    return this.transpose(0, 1);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return new Tensor(native.flatten(this.handle, startDim, endDim));
  }
  squeeze(dim?: number): Tensor {
    return new Tensor(native.squeeze(this.handle, dim));
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(native.unsqueeze(this.handle, dim));
  }
  expand(...shape: number[] | [number[]]): Tensor {
    return new Tensor(native.expand(this.handle, shape.flat()));
  }
  expandAs(other: Tensor): Tensor {
    return this.expand(other.shape);
  }
  split(sizes: number | number[], dim = 0): Tensor[] {
    return native.split(this.handle, sizes, dim).map((h) => new Tensor(h));
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return native.chunk(this.handle, chunks, dim).map((h) => new Tensor(h));
  }
  unbind(dim = 0): Tensor[] {
    return native.unbind(this.handle, dim).map((h) => new Tensor(h));
  }
  /** A view with explicit sizes, strides and offset (in elements), checked against the storage. */
  asStrided(size: number[], stride: number[], offset = 0): Tensor {
    return new Tensor(native.as_strided(this.handle, size, stride, offset));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return new Tensor(native.narrow(this.handle, dim, start, length));
  }
  select(dim: number, index: number): Tensor {
    return new Tensor(native.select(this.handle, dim, index));
  }
  /** Python's t[start:end:step] along dim. */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return new Tensor(native.slice(this.handle, dim, start, end, step));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.index_select(this.handle, dim, index.handle));
  }
  /** Advanced indexing t[i0, i1, ...] with int64 or bool index tensors; null keeps a dim whole. */
  index(indices: Array<Tensor | null>): Tensor {
    return new Tensor(
      native.index(
        this.handle,
        indices.map((i) => (i === null ? null : i.handle)),
      ),
    );
  }
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.gather(this.handle, dim, index.handle));
  }
  scatter(dim: number, index: Tensor, src: Tensor | number): Tensor {
    return new Tensor(native.scatter(this.handle, dim, index.handle, src instanceof Tensor ? src.handle : src));
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return new Tensor(native.scatter_add(this.handle, dim, index.handle, src.handle));
  }
  maskedFill(mask: Tensor, value: TensorLike): Tensor {
    return new Tensor(native.masked_fill(this.handle, mask.handle, operand(value)));
  }
  maskedSelect(mask: Tensor): Tensor {
    return new Tensor(native.masked_select(this.handle, mask.handle));
  }
  nonzero(): Tensor {
    return new Tensor(native.nonzero(this.handle));
  }
  flip(dims: number | number[]): Tensor {
    return new Tensor(native.flip(this.handle, typeof dims === 'number' ? [dims] : dims));
  }
  roll(shifts: number | number[], dims: number | number[]): Tensor {
    return new Tensor(native.roll(this.handle, [shifts].flat(), [dims].flat()));
  }
  repeat(...sizes: number[] | [number[]]): Tensor {
    return new Tensor(native.repeat(this.handle, sizes.flat()));
  }
  tril(diagonal = 0): Tensor {
    return new Tensor(native.tril(this.handle, diagonal));
  }
  triu(diagonal = 0): Tensor {
    return new Tensor(native.triu(this.handle, diagonal));
  }
  diagonal(offset = 0, dim1 = 0, dim2 = 1): Tensor {
    return new Tensor(native.diagonal(this.handle, offset, dim1, dim2));
  }

  // ---- activations and normalisation along a dim ----
  softmax(dim: number, opts: { dtype?: DType } = {}): Tensor {
    return new Tensor(native.softmax(this.handle, dim, opts.dtype));
  }
  logSoftmax(dim: number, opts: { dtype?: DType } = {}): Tensor {
    return new Tensor(native.log_softmax(this.handle, dim, opts.dtype));
  }
}
