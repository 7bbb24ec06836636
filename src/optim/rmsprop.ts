// RMSprop (Hinton's lecture 6e), as PyTorch 1.13's torch.optim.RMSprop computes it: a running mean
// of squared gradients, optionally centred by the running mean of gradients, with momentum.
import { type Tensor, multiTensorRMSprop, zerosLike } from '../engine/index.js';
import { Optimizer, type OptimizerOptions, type ParamGroup, type ParamGroupInput, type ParamState, checkNonNegative } from './optimizer.js';

export interface RMSpropOptions {
  lr: number;
  /** The smoothing constant of the running means. */
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  /** Divide by the variance estimate (square_avg − grad_avg²) rather than the uncentred second moment. */
  centered: boolean;
}

export class RMSprop extends Optimizer<RMSpropOptions> {
  constructor(params: Tensor[] | ParamGroupInput<RMSpropOptions>[], o: Partial<RMSpropOptions> & OptimizerOptions = {}) {
    const { foreach, ...options } = o;
    super(params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, ...options }, { foreach });
  }

  protected validate(g: ParamGroup<RMSpropOptions>, i: number): void {
    checkNonNegative('learning rate', g.lr, i);
    checkNonNegative('epsilon', g.eps, i);
    checkNonNegative('momentum', g.momentum, i);
    checkNonNegative('weight decay', g.weightDecay, i);
    checkNonNegative('alpha', g.alpha, i);
  }

  /** Makes the state on the first step and counts the step. */
  #advance(p: Tensor, g: ParamGroup<RMSpropOptions>, state: ParamState): void {
    if (state.step === undefined) {
      state.step = 0;
      this.setState(state, 'square_avg', zerosLike(p));
      if (g.momentum > 0) this.setState(state, 'momentum_buffer', zerosLike(p));
      if (g.centered) this.setState(state, 'grad_avg', zerosLike(p));
    }
    state.step = (state.step as number) + 1;
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<RMSpropOptions>, state: ParamState): void {
    this.#advance(p, g, state);
    if (g.weightDecay !== 0) grad = grad.add(p, g.weightDecay);
    const squareAvg = (state.square_avg as Tensor).mul_(g.alpha).addcmul_(grad, grad, 1 - g.alpha);
    let avg: Tensor;
    if (g.centered) {
      const gradAvg = (state.grad_avg as Tensor).mul_(g.alpha).add_(grad, 1 - g.alpha);
      avg = squareAvg.clone().addcmul_(gradAvg, gradAvg, -1).sqrt_();
    } else avg = squareAvg.sqrt();
    avg.add_(g.eps);
    if (g.momentum > 0) {
      const buf = (state.momentum_buffer as Tensor).mul_(g.momentum).addcdiv_(grad, avg);
      p.add_(buf, -g.lr);
    } else p.addcdiv_(grad, avg, -g.lr);
  }

  protected override updateForeach(params: Tensor[], grads: Tensor[], g: ParamGroup<RMSpropOptions>, states: ParamState[]): void {
    for (const [i, p] of params.entries()) this.#advance(p, g, states[i]!);
    const get = (key: string) => states.map((s) => s[key] as Tensor);
    multiTensorRMSprop(params, grads, get('square_avg'), g.centered ? get('grad_avg') : [], g.momentum > 0 ? get('momentum_buffer') : [], g);
  }
}
