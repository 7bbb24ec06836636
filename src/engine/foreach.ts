// Multi-tensor optimizer updates (native/optim.cc): a whole list of parameters in one native call,
// with libtorch's _foreach ops, as PyTorch's default optimizers do (torch/optim's _multi_tensor_*).
// Every list holds one tensor per parameter, and all share one device and dtype. The optimizers in
// src/optim call these and keep the state; scalars are passed as they compute them.
import { native } from './native.js';
import { Tensor } from './tensor.js';

const handles = (ts: Tensor[]) => ts.map((t) => t.handle);

export interface MultiTensorSgdOptions {
  lr: number;
  weightDecay: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
}
/**
 * SGD's step in place. A parameter whose momentum buffer is undefined gets a new one (a copy of
 * its d_p), returned at its index (undefined elsewhere), in the current tidy() scope.
 */
export function multiTensorSgd(
  params: Tensor[],
  grads: Tensor[],
  momentumBuffers: Array<Tensor | undefined>,
  o: MultiTensorSgdOptions,
): Array<Tensor | undefined> {
  const made = native.multi_tensor_sgd(
    handles(params),
    handles(grads),
    momentumBuffers.map((b) => b?.handle ?? null),
    o.lr,
    o.weightDecay,
    o.momentum,
    o.dampening,
    o.nesterov,
  );
  return made.map((h) => (h === undefined ? undefined : new Tensor(h)));
}

export interface MultiTensorAdamOptions {
  beta1: number;
  beta2: number;
  eps: number;
  /** Adam's L2 term, added to the gradient. */
  weightDecay: number;
  /** AdamW's decoupled decay: the factor 1 − lr·λ the weights are multiplied by first. */
  paramDecay?: number;
  /** Per parameter, from its step: √(1 − β2^step). */
  biasCorrection2Sqrt: number[];
  /** Per parameter, from its step: −lr / (1 − β1^step). */
  stepSize: number[];
}
/** Adam's (or AdamW's) step in place; maxExpAvgSqs is empty without amsgrad. */
export function multiTensorAdam(
  params: Tensor[],
  grads: Tensor[],
  expAvgs: Tensor[],
  expAvgSqs: Tensor[],
  maxExpAvgSqs: Tensor[],
  o: MultiTensorAdamOptions,
): void {
  native.multi_tensor_adam(
    handles(params),
    handles(grads),
    handles(expAvgs),
    handles(expAvgSqs),
    handles(maxExpAvgSqs),
    o.beta1,
    o.beta2,
    o.eps,
    o.weightDecay,
    o.paramDecay ?? null,
    o.biasCorrection2Sqrt,
    o.stepSize,
  );
}

export interface MultiTensorRMSpropOptions {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
}
/** RMSprop's step in place; gradAvgs is empty unless centered, momentumBuffers unless momentum > 0. */
export function multiTensorRMSprop(
  params: Tensor[],
  grads: Tensor[],
  squareAvgs: Tensor[],
  gradAvgs: Tensor[],
  momentumBuffers: Tensor[],
  o: MultiTensorRMSpropOptions,
): void {
  native.multi_tensor_rmsprop(
    handles(params),
    handles(grads),
    handles(squareAvgs),
    handles(gradAvgs),
    handles(momentumBuffers),
    o.lr,
    o.alpha,
    o.eps,
    o.weightDecay,
    o.momentum,
    o.centered,
  );
}
