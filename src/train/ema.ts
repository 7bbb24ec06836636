// An exponential moving average of a model's weights, as timm's ModelEmaV2: after every optimizer
// step each floating-point entry of the state dict (parameters and BatchNorm statistics) becomes
// decay·ema + (1 − decay)·model. Integer entries (num_batches_tracked) are copied, as ModelEmaV3 does.
import { type Tensor, noGrad, tidy } from '../engine/index.js';
import type { Classifier } from '../models/index.js';

export class ModelEma {
  readonly #pairs: Array<[Tensor, Tensor]>;

  /** `module`: a copy of `model` (same architecture, same weights) that becomes the average. */
  constructor(
    readonly module: Classifier,
    model: Classifier,
    readonly decay: number,
  ) {
    if (!(decay >= 0 && decay < 1)) throw new Error(`ModelEma: decay must be in [0, 1), got ${decay}`);
    const own = [...module.stateDict()];
    const theirs = new Map(model.stateDict());
    this.#pairs = own.map(([k, t]) => {
      const m = theirs.get(k);
      if (!m || m.shape.join() !== t.shape.join()) throw new Error(`ModelEma: the copy's '${k}' [${t.shape}] has no match in the model`);
      return [t, m];
    });
    if (theirs.size !== own.length) throw new Error(`ModelEma: the model has ${theirs.size} state entries, the copy ${own.length}`);
    module.eval();
  }

  update(): void {
    noGrad(() => {
      for (const [e, m] of this.#pairs)
        if (e.isFloatingPoint) tidy(() => e.copy_(e.mul(this.decay).add(m.mul(1 - this.decay))));
        else e.copy_(m);
    });
  }
}
