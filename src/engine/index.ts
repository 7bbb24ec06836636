// The engine layer: tensors, autograd and ops over libtorch. It imports nothing above it.
export { Tensor, FLOAT_DTYPES } from './tensor.js';
export type { DType, MemoryFormat, Scalar, TensorLike, Device, TypedArray, NestedArray } from './tensor.js';
export * from './creation.js';
export * from './runtime.js';
export * from './device.js';
export { tidy, keep, dispose } from './scope.js';
export * from './errors.js';
export * as F from './functional.js';
export * from './foreach.js';
export * as dist from './distributed.js';
export type { ExternalMemoryStats, Reduction } from './native.js';
export * from './values.js';
