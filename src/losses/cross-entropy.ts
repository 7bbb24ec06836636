// Cross-entropy with label smoothing: PyTorch's cross_entropy semantics, checked input, and lsr's
// fused kernel for the common case (class-index targets, float32/float64 logits on the CPU).
//
// For a position with true class y, class weights w (1 without a weight) and smoothing ε:
//   loss = (1 − ε)·w_y·(−log p_y) + (ε/C)·Σ_c w_c·(−log p_c)
// ignored positions add 0, and 'mean' divides by Σ w_y over the positions not ignored (PyTorch's
// choice, so an all-ignored 'mean' is NaN). Probability targets t use t·(1 − ε) + ε/C and 'mean'
// divides by the number of positions.
import { type DType, F, NonFiniteLogitsError, type Reduction, type Tensor, ones, tidy } from '../engine/index.js';

export interface CrossEntropyOptions {
  /** One weight per class (shape [C]). */
  weight?: Tensor;
  /** Class-index targets equal to this are skipped (default −100, as PyTorch). */
  ignoreIndex?: number;
  reduction?: Reduction;
  /** ε in [0, 1]; or a tensor of C values in [0, 1]: the ε used for a position whose true class is c. */
  labelSmoothing?: number | Tensor;
  /**
   * Where the smoothing mass goes: 'all' classes get ε/C, the true one included (PyTorch, timm);
   * 'others' get ε/(C−1) each and the true class keeps exactly 1 − ε. Class-index targets only.
   */
  smoothingMass?: 'all' | 'others';
}

const REDUCTIONS: readonly string[] = ['none', 'mean', 'sum'];
const INTEGER_DTYPES: readonly DType[] = ['int64', 'int32', 'int16', 'int8', 'uint8'];

/** Cross-entropy of logits `input` ((N, C, d1, …) or (C)) against class indices or probabilities. */
export function crossEntropy(input: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor {
  const kind = checkArguments(input, target, o);
  const classDim = input.ndim === 1 ? 0 : 1;
  const classes = input.shape[classDim]!;
  if (kind === 'probabilities') return tidy(() => probabilityTargetLoss(input, target, classDim, o));

  return tidy(() => {
    const indices = target.dtype === 'int64' ? target : target.to('int64');
    const weight = o.weight && o.weight.dtype !== input.dtype ? o.weight.to(input.dtype) : o.weight;
    const options = { weight, ignoreIndex: o.ignoreIndex ?? -100, reduction: o.reduction ?? 'mean' };
    // 'others' is the uniform formula with ε·C/(C−1): then ε/C becomes ε/(C−1) and the true class 1 − ε.
    const massScale = o.smoothingMass === 'others' ? classes / (classes - 1) : 1;
    const smoothing = o.labelSmoothing ?? 0;
    if (typeof smoothing !== 'number') {
      return perClassSmoothingLoss(input, indices, classDim, smoothing.mul(massScale), options);
    }
    // The fused kernel is lsr's own, for the CPU: every tensor it reads must be there.
    const onCpu = input.device === 'cpu' && indices.device === 'cpu' && (!weight || weight.device === 'cpu');
    if (onCpu && (input.dtype === 'float32' || input.dtype === 'float64')) {
      return F.labelSmoothedCrossEntropy(input, indices, { ...options, labelSmoothing: smoothing * massScale });
    }
    // Other dtypes and devices: libtorch's own kernel, with lsr's checks on the result's inputs.
    checkFiniteRows(input, classDim, () => indices.ne(options.ignoreIndex));
    return F.crossEntropy(input, indices, { ...options, labelSmoothing: smoothing * massScale });
  });
}

/** cross-entropy as a module: the options fixed at construction, `forward(input, target)`. */
export class CrossEntropyLoss {
  constructor(readonly options: CrossEntropyOptions = {}) {}
  forward(input: Tensor, target: Tensor): Tensor {
    return crossEntropy(input, target, this.options);
  }
}

/**
 * Class-index targets with a per-class ε, written from ops:
 * (1 − ε_y)·w_y·(−log p_y) + (ε_y/C)·Σ_c w_c·(−log p_c), 0 where ignored.
 */
function perClassSmoothingLoss(
  input: Tensor,
  target: Tensor,
  classDim: number,
  epsilonPerClass: Tensor,
  o: { weight?: Tensor | undefined; ignoreIndex: number; reduction: Reduction },
): Tensor {
  const classes = input.shape[classDim]!;
  checkClassIndices(target, classes, o.ignoreIndex);
  const kept = target.ne(o.ignoreIndex);
  checkFiniteRows(input, classDim, () => kept);
  const y = target.maskedFill(kept.logicalNot(), 0);
  const w = o.weight ?? ones([classes], { dtype: input.dtype, device: input.device as 'cpu' });
  const classShape = input.shape.map((size, d) => (d === classDim ? size : 1));

  const logProbs = F.logSoftmax(input, classDim);
  const nll = logProbs.gather(classDim, y.unsqueeze(classDim)).squeeze(classDim).neg();
  const smooth = logProbs
    .mul(w.view(...classShape))
    .sum(classDim)
    .neg();
  const wy = w
    .gather(0, y.flatten())
    .view(...y.shape)
    .mul(kept);
  const eps = epsilonPerClass
    .to(input.dtype)
    .gather(0, y.flatten())
    .view(...y.shape);
  // A class with ε = 0 adds no smoothing term, not 0·(+inf) = NaN for a row with a −inf logit.
  const smoothTerm = eps.div(classes).mul(smooth).maskedFill(eps.eq(0), 0);
  const loss = eps.rsub(1).mul(wy).mul(nll).add(smoothTerm).maskedFill(kept.logicalNot(), 0);
  return reduce(loss, o.reduction, wy.sum());
}

/** Probability targets, as PyTorch: −Σ_c w_c·t'_c·log p_c with t' = t·(1 − ε) + ε/C. */
function probabilityTargetLoss(input: Tensor, target: Tensor, classDim: number, o: CrossEntropyOptions): Tensor {
  const classes = input.shape[classDim]!;
  checkFiniteRows(input, classDim);
  const eps = (o.labelSmoothing as number | undefined) ?? 0;
  const smoothed = eps > 0 ? target.mul(1 - eps).add(eps / classes) : target;
  let terms = F.logSoftmax(input, classDim).mul(smoothed);
  if (o.weight) terms = terms.mul(o.weight.to(input.dtype).view(...input.shape.map((s, d) => (d === classDim ? s : 1))));
  const loss = terms.sum(classDim).neg();
  return reduce(loss, o.reduction ?? 'mean', input.numel() / classes);
}

function reduce(loss: Tensor, reduction: Reduction, meanDenominator: Tensor | number): Tensor {
  if (reduction === 'none') return loss;
  const total = loss.sum();
  return reduction === 'sum' ? total : total.div(meanDenominator);
}

// ---- input checks: each error names the argument, the value and the shapes ----

function checkArguments(input: Tensor, target: Tensor, o: CrossEntropyOptions): 'indices' | 'probabilities' {
  const shapes = `input [${input.shape}], target [${target.shape}]`;
  const fail = (what: string): never => {
    throw new Error(`crossEntropy: ${what} (${shapes})`);
  };
  if (!input.isFloatingPoint) fail(`input must hold floating-point logits, got ${input.dtype}`);
  if (input.ndim === 0) fail('input must have a class dimension: (C), (N, C) or (N, C, d1, ...)');
  const classDim = input.ndim === 1 ? 0 : 1;
  const classes = input.shape[classDim]!;
  if (input.numel() === 0) fail('empty batch: the input has no logits');
  if (o.reduction !== undefined && !REDUCTIONS.includes(o.reduction)) fail(`reduction '${String(o.reduction)}' is not one of none, mean, sum`);
  if (o.weight && (o.weight.ndim !== 1 || o.weight.shape[0] !== classes))
    fail(`weight must have one value per class (${classes}), got shape [${o.weight.shape}]`);
  if (o.smoothingMass !== undefined && o.smoothingMass !== 'all' && o.smoothingMass !== 'others')
    fail(`smoothingMass '${String(o.smoothingMass)}' is not one of all, others`);
  if (o.smoothingMass === 'others' && classes < 2) fail("smoothingMass 'others' needs at least 2 classes");

  const eps = o.labelSmoothing ?? 0;
  if (typeof eps === 'number') {
    if (!(eps >= 0 && eps <= 1)) fail(`labelSmoothing must be in [0, 1], got ${eps}`);
  } else {
    if (eps.ndim !== 1 || eps.shape[0] !== classes) fail(`a labelSmoothing tensor must have one ε per class (${classes}), got shape [${eps.shape}]`);
    const [lo, hi] = tidy(() => [eps.min().item(), eps.max().item()]);
    if (!(lo! >= 0 && hi! <= 1)) fail(`labelSmoothing values must be in [0, 1], got min ${lo}, max ${hi}`);
  }

  const indexShape = input.shape.filter((_, d) => d !== classDim);
  const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((s, i) => s === b[i]);
  if (INTEGER_DTYPES.includes(target.dtype)) {
    if (!sameShape(target.shape, indexShape)) fail(`class-index target must have shape [${indexShape}] for this input`);
    return 'indices';
  }
  if (target.isFloatingPoint) {
    if (!sameShape(target.shape, input.shape))
      fail(
        `target has dtype ${target.dtype}: probabilities must have the input's shape [${input.shape}]; ` +
          `class indices must be an integer tensor of shape [${indexShape}]` +
          (sameShape(target.shape, indexShape) ? " (a number array makes float32: tensor(labels, { dtype: 'int64' }), or bigints)" : ''),
      );
    if (typeof eps !== 'number') fail('a per-class labelSmoothing tensor needs class-index targets');
    if (o.smoothingMass === 'others') fail("smoothingMass 'others' needs class-index targets");
    return 'probabilities';
  }
  return fail(`target must be int64 class indices or floating-point probabilities, got ${target.dtype}`);
}

/** Every target is a class in [0, C) or ignoreIndex; otherwise names the first that is not. */
function checkClassIndices(target: Tensor, classes: number, ignoreIndex: number): void {
  tidy(() => {
    const position = firstTrue(target.ne(ignoreIndex).logicalAnd(target.lt(0).logicalOr(target.ge(classes))));
    if (!position) return;
    const value = position.reduce((t, i) => t.select(0, i), target).item();
    throw new Error(`crossEntropy: target[${position.join(', ')}] = ${value} is not a class index in [0, ${classes}) ` + `nor ignoreIndex (${ignoreIndex})`);
  });
}

/**
 * Throws where PyTorch would return NaN because of the logits: NaN, +Inf, or a row all −Inf. On
 * the CPU only: elsewhere (CUDA) the check would wait for the device at every call, so the loss is
 * NaN there, as PyTorch's, and the Trainer stops when it reads it. `kept` (the positions not
 * ignored) is built only when checked: on a GPU it would be one more kernel per step for nothing.
 */
function checkFiniteRows(input: Tensor, classDim: number, kept?: () => Tensor): void {
  if (input.device !== 'cpu') return;
  tidy(() => {
    let bad = input.logsumexp(classDim).isfinite().logicalNot();
    if (kept) bad = bad.logicalAnd(kept());
    const position = firstTrue(bad);
    if (!position) return;
    throw new NonFiniteLogitsError(
      `crossEntropy: input at position [${position.join(', ')}] has NaN or +Inf logits, or all -Inf ` + `(input [${input.shape}])`,
    );
  });
}

/** The index of the first true element of a boolean mask, or null when none is. */
function firstTrue(mask: Tensor): number[] | null {
  return mask.any().item() ? mask.nonzero().select(0, 0).toFlatArray() : null;
}
