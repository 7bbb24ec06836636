import type { DType } from '../engine/index.js';

/** Bytes per element of each dtype, as weight files store them. */
export const ITEM_SIZE: Record<DType, number> = {
  float64: 8,
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};
