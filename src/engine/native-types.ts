// The types the op table (native/ops.table) writes the native entry points in: the generated
// Native interface (ops.generated.ts) and native.ts import them from here.

/**
 * An opaque native handle: a BigInt naming a slot that owns one reference to an at::Tensor.
 * A released handle is rejected natively (its slot's generation moved on), never dereferenced.
 */
export type Handle = bigint & { readonly __brand: 'lsr.TensorHandle' };
export type DType = 'float32' | 'float64' | 'bfloat16' | 'float16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
export type MemoryFormat = 'contiguous' | 'channels_last' | 'preserve';
export type Reduction = 'none' | 'mean' | 'sum';
/** A tensor handle or a number (passed to libtorch as a "wrapped number", like a Python scalar). */
export type Operand = Handle | number | boolean;
/** An argument that may be absent: PyTorch's None. */
export type Opt<T> = T | undefined | null;
export type Pair = [Handle, Handle];

/** What V8 is told of native memory (only tensors that left every tidy() scope count). */
export interface ExternalMemoryStats {
  /** Bytes of live handles that left every tidy() scope: only the GC or dispose() frees them. */
  escapedBytes: number;
  /** What V8 was last told (escapedBytes, netted in 16 MiB steps). */
  reportedBytes: number;
  /** The sum of every increase V8 was told of since the process started. */
  reportedIncreases: number;
}

/** Pixels, height × width × channels, uint8 (the data loader's RawImage). */
export interface NativeImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}
