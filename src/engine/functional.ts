// torch.nn.functional, in camelCase: the ops models and losses are written from.
import { type DType, type Reduction, native } from './native.js';
import { Tensor } from './tensor.js';

export type { Reduction } from './native.js';
type IntOr2 = number | [number, number];
const pair = (v: IntOr2): [number, number] => (typeof v === 'number' ? [v, v] : v);

export interface Conv2dOptions {
  stride?: IntOr2;
  padding?: IntOr2;
  dilation?: IntOr2;
  groups?: number;
}
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, o: Conv2dOptions = {}): Tensor {
  return new Tensor(native.conv2d(x.handle, weight.handle, bias?.handle, pair(o.stride ?? 1), pair(o.padding ?? 0), pair(o.dilation ?? 1), o.groups ?? 1));
}

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  training?: boolean;
  momentum?: number;
  eps?: number;
}
/** Batch norm; in training mode the running stats (if given) are updated in place, as in PyTorch. */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, o: BatchNormOptions = {}): Tensor {
  return new Tensor(
    native.batch_norm(
      x.handle,
      o.weight?.handle,
      o.bias?.handle,
      runningMean?.handle,
      runningVar?.handle,
      o.training ?? false,
      o.momentum ?? 0.1,
      o.eps ?? 1e-5,
    ),
  );
}
/**
 * Batch norm in training mode with the statistics of every rank's batch (all-reduced, forward and
 * backward): PyTorch's SyncBatchNorm. Needs a process group; computed in float32.
 */
export function syncBatchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, o: Omit<BatchNormOptions, 'training'> = {}): Tensor {
  return new Tensor(
    native.sync_batch_norm(x.handle, o.weight?.handle, o.bias?.handle, runningMean?.handle, runningVar?.handle, o.momentum ?? 0.1, o.eps ?? 1e-5),
  );
}
export function layerNorm(x: Tensor, normalizedShape: number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return new Tensor(native.layer_norm(x.handle, normalizedShape, weight?.handle, bias?.handle, eps));
}
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return new Tensor(native.linear(x.handle, weight.handle, bias?.handle));
}

export interface Pool2dOptions {
  stride?: IntOr2;
  padding?: IntOr2;
  dilation?: IntOr2;
  ceilMode?: boolean;
}
export function maxPool2d(x: Tensor, kernelSize: IntOr2, o: Pool2dOptions = {}): Tensor {
  const k = pair(kernelSize);
  return new Tensor(native.max_pool2d(x.handle, k, pair(o.stride ?? k), pair(o.padding ?? 0), pair(o.dilation ?? 1), o.ceilMode ?? false));
}
export function avgPool2d(
  x: Tensor,
  kernelSize: IntOr2,
  o: Omit<Pool2dOptions, 'dilation'> & { countIncludePad?: boolean; divisorOverride?: number } = {},
): Tensor {
  const k = pair(kernelSize);
  return new Tensor(
    native.avg_pool2d(x.handle, k, pair(o.stride ?? k), pair(o.padding ?? 0), o.ceilMode ?? false, o.countIncludePad ?? true, o.divisorOverride),
  );
}
export function adaptiveAvgPool2d(x: Tensor, outputSize: IntOr2): Tensor {
  return new Tensor(native.adaptive_avg_pool2d(x.handle, pair(outputSize)));
}
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`dropout: p must be in [0, 1] (got ${p})`);
  return new Tensor(native.dropout(x.handle, p, training));
}
export const relu = (x: Tensor) => x.relu();
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none') => x.gelu(approximate);
export const sigmoid = (x: Tensor) => x.sigmoid();
export const softmax = (x: Tensor, dim: number, opts: { dtype?: DType } = {}) => x.softmax(dim, opts);
export const logSoftmax = (x: Tensor, dim: number, opts: { dtype?: DType } = {}) => x.logSoftmax(dim, opts);

export interface NllOptions {
  weight?: Tensor | null;
  reduction?: Reduction;
  ignoreIndex?: number;
}
export function nllLoss(logProbs: Tensor, target: Tensor, o: NllOptions = {}): Tensor {
  return new Tensor(native.nll_loss(logProbs.handle, target.handle, o.weight?.handle, o.reduction ?? 'mean', o.ignoreIndex ?? -100));
}
/**
 * libtorch's own cross_entropy_loss (class indices or probabilities as target), kept as the
 * reference that lsr's losses are tested against.
 */
export function crossEntropy(logits: Tensor, target: Tensor, o: NllOptions & { labelSmoothing?: number } = {}): Tensor {
  return new Tensor(native.cross_entropy(logits.handle, target.handle, o.weight?.handle, o.reduction ?? 'mean', o.ignoreIndex ?? -100, o.labelSmoothing ?? 0));
}
/**
 * lsr's fused kernel for cross-entropy with class-index targets (float32/float64, CPU): PyTorch's
 * numbers (weight, ignoreIndex, reductions, label smoothing) in one pass per row, keeping only the
 * input and one log-sum-exp per row for backward. Target must be int64. Throws, naming the
 * position, where PyTorch would return NaN because of the logits (NaN, +Inf, a row all -Inf).
 */
export function labelSmoothedCrossEntropy(logits: Tensor, target: Tensor, o: NllOptions & { labelSmoothing?: number } = {}): Tensor {
  return new Tensor(
    native.label_smoothed_cross_entropy(logits.handle, target.handle, o.weight?.handle, o.reduction ?? 'mean', o.ignoreIndex ?? -100, o.labelSmoothing ?? 0),
  );
}
/** KL(target ‖ input) with input given as log-probabilities, as torch.nn.functional.kl_div. */
export function klDiv(input: Tensor, target: Tensor, o: { reduction?: Reduction | 'batchmean'; logTarget?: boolean } = {}): Tensor {
  if (o.reduction === 'batchmean') {
    const s = new Tensor(native.kl_div(input.handle, target.handle, 'sum', o.logTarget ?? false));
    const out = s.div(input.shape[0] ?? 1);
    s.dispose();
    return out;
  }
  return new Tensor(native.kl_div(input.handle, target.handle, o.reduction ?? 'mean', o.logTarget ?? false));
}
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return new Tensor(native.mse_loss(input.handle, target.handle, reduction));
}
/** One-hot int64 encoding; numClasses -1 infers max + 1 as PyTorch does. */
export function oneHot(t: Tensor, numClasses = -1): Tensor {
  return new Tensor(native.one_hot(t.handle, numClasses));
}
export function interpolate(x: Tensor, size: IntOr2, o: { mode?: 'bilinear' | 'nearest'; alignCorners?: boolean } = {}): Tensor {
  return new Tensor(native.interpolate(x.handle, pair(size), o.mode ?? 'bilinear', o.alignCorners ?? false));
}
export function pad(x: Tensor, padding: number[], value = 0): Tensor {
  return new Tensor(native.pad(x.handle, padding, value));
}
