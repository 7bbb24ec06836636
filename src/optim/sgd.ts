// SGD with momentum, dampening, Nesterov and weight decay: PyTorch's torch.optim.SGD, step for step.
import { type Tensor, multiTensorSgd } from '../engine/index.js';
import { Optimizer, type OptimizerOptions, type ParamGroup, type ParamGroupInput, type ParamState, checkNonNegative } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: Tensor[] | ParamGroupInput<SGDOptions>[], o: Partial<SGDOptions> & { lr: number } & OptimizerOptions) {
    const { foreach, ...options } = o;
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...options }, { foreach });
  }

  protected validate(g: ParamGroup<SGDOptions>, i: number): void {
    checkNonNegative('learning rate', g.lr, i);
    checkNonNegative('momentum', g.momentum, i);
    checkNonNegative('weight decay', g.weightDecay, i);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new Error(`parameter group ${i}: Nesterov momentum requires a momentum and zero dampening`);
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<SGDOptions>, state: ParamState): void {
    let d = g.weightDecay !== 0 ? grad.add(p, g.weightDecay) : grad;
    if (g.momentum !== 0) {
      let buf = state.momentum_buffer as Tensor | undefined;
      if (!buf) buf = this.setState(state, 'momentum_buffer', d.clone());
      else buf.mul_(g.momentum).add_(d, 1 - g.dampening);
      d = g.nesterov ? d.add(buf, g.momentum) : buf;
    }
    p.add_(d, -g.lr);
  }

  protected override updateForeach(params: Tensor[], grads: Tensor[], g: ParamGroup<SGDOptions>, states: ParamState[]): void {
    const made = multiTensorSgd(
      params,
      grads,
      states.map((s) => s.momentum_buffer as Tensor | undefined),
      g,
    );
    for (const [i, buf] of made.entries()) if (buf) this.setState(states[i]!, 'momentum_buffer', buf);
  }
}
