// Adam (Kingma & Ba) and AdamW (Loshchilov & Hutter: decoupled weight decay), as PyTorch 1.13's
// single-tensor implementations compute them, amsgrad included.
import { type Tensor, multiTensorAdam, zerosLike } from '../engine/index.js';
import { Optimizer, type OptimizerOptions, type ParamGroup, type ParamGroupInput, type ParamState, checkNonNegative } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
}

export class Adam extends Optimizer<AdamOptions> {
  /** AdamW decays the weights directly (p ← p·(1 − lr·λ)) instead of adding λ·p to the gradient. */
  protected readonly decoupled: boolean = false;

  constructor(params: Tensor[] | ParamGroupInput<AdamOptions>[], o: Partial<AdamOptions> & OptimizerOptions = {}, defaultWeightDecay = 0) {
    const { foreach, ...options } = o;
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: defaultWeightDecay, amsgrad: false, ...options }, { foreach });
  }

  protected validate(g: ParamGroup<AdamOptions>, i: number): void {
    checkNonNegative('learning rate', g.lr, i);
    checkNonNegative('epsilon', g.eps, i);
    checkNonNegative('weight decay', g.weightDecay, i);
    for (const [k, b] of g.betas.entries())
      if (!(b >= 0 && b < 1)) throw new Error(`invalid beta parameter at index ${k}: ${b} in parameter group ${i} (must be in [0, 1))`);
  }

  /** Makes the state on the first step and counts the step; returns its number. */
  #advance(p: Tensor, g: ParamGroup<AdamOptions>, state: ParamState): number {
    if (state.step === undefined) {
      state.step = 0;
      this.setState(state, 'exp_avg', zerosLike(p));
      this.setState(state, 'exp_avg_sq', zerosLike(p));
      if (g.amsgrad) this.setState(state, 'max_exp_avg_sq', zerosLike(p));
    }
    const step = (state.step as number) + 1;
    state.step = step;
    return step;
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<AdamOptions>, state: ParamState): void {
    const [beta1, beta2] = g.betas;
    const step = this.#advance(p, g, state);
    const expAvg = state.exp_avg as Tensor;
    const expAvgSq = state.exp_avg_sq as Tensor;

    if (this.decoupled) p.mul_(1 - g.lr * g.weightDecay);
    else if (g.weightDecay !== 0) grad = grad.add(p, g.weightDecay);
    expAvg.mul_(beta1).add_(grad, 1 - beta1);
    expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
    let second = expAvgSq;
    if (g.amsgrad) {
      const max = state.max_exp_avg_sq as Tensor;
      max.copy_(max.maximum(expAvgSq));
      second = max;
    }
    const denom = second.sqrt().div(biasCorrection2Sqrt).add_(g.eps);
    p.addcdiv_(expAvg, denom, -g.lr / biasCorrection1);
  }

  // The same formula in multi-tensor ops, with the scalars computed as update() computes them.
  protected override updateForeach(params: Tensor[], grads: Tensor[], g: ParamGroup<AdamOptions>, states: ParamState[]): void {
    const [beta1, beta2] = g.betas;
    const steps = params.map((p, i) => this.#advance(p, g, states[i]!));
    const get = (key: string) => states.map((s) => s[key] as Tensor);
    multiTensorAdam(params, grads, get('exp_avg'), get('exp_avg_sq'), g.amsgrad ? get('max_exp_avg_sq') : [], {
      beta1,
      beta2,
      eps: g.eps,
      weightDecay: this.decoupled ? 0 : g.weightDecay,
      paramDecay: this.decoupled ? 1 - g.lr * g.weightDecay : undefined,
      biasCorrection2Sqrt: steps.map((step) => Math.sqrt(1 - beta2 ** step)),
      stepSize: steps.map((step) => -g.lr / (1 - beta1 ** step)),
    });
  }
}

export class AdamW extends Adam {
  protected override readonly decoupled = true;
  constructor(params: Tensor[] | ParamGroupInput<AdamOptions>[], o: Partial<AdamOptions> & OptimizerOptions = {}) {
    super(params, o, 1e-2);
  }
}
