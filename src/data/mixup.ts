// Batch-level Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) with timm's semantics: each
// batch is mixed with its own reverse, and the targets become soft (mixupTarget, with smoothing).
import { type Tensor, tidy } from '../engine/index.js';
import { mixupTarget } from '../losses/index.js';
import { Rng } from './rng.js';

export interface MixupOptions {
  /** Beta(α, α) for mixup's λ; 0 turns mixup off. */
  mixupAlpha?: number;
  /** Beta(α, α) for CutMix's λ; 0 turns CutMix off. */
  cutmixAlpha?: number;
  /** Probability that a batch is mixed at all. */
  prob?: number;
  /** With both on: probability of CutMix rather than mixup. */
  switchProb?: number;
  /** Label smoothing folded into the soft targets. */
  labelSmoothing?: number;
  numClasses: number;
  seed?: number;
}

export class Mixup {
  readonly #o: Required<MixupOptions>;
  constructor(o: MixupOptions) {
    this.#o = { mixupAlpha: 1, cutmixAlpha: 0, prob: 1, switchProb: 0.5, labelSmoothing: 0.1, seed: 0, ...o };
  }

  /** λ and whether to cut, for batch `step` of `epoch` (timm's _params_per_batch). */
  params(epoch: number, step: number): { lam: number; cutmix: boolean; rng: Rng } {
    const rng = new Rng(this.#o.seed, 0x313c, epoch, step);
    const { mixupAlpha: ma, cutmixAlpha: ca } = this.#o;
    if (!(rng.random() < this.#o.prob) || (ma <= 0 && ca <= 0)) return { lam: 1, cutmix: false, rng };
    const cutmix = ma > 0 && ca > 0 ? rng.random() < this.#o.switchProb : ca > 0;
    const alpha = cutmix ? ca : ma;
    return { lam: rng.beta(alpha, alpha), cutmix, rng };
  }

  /** The mixed images and their soft targets [n, C]. */
  apply(x: Tensor, y: Tensor, epoch: number, step: number): { x: Tensor; target: Tensor } {
    let { lam, cutmix, rng } = this.params(epoch, step);
    return tidy(() => {
      let mixed = x;
      if (lam < 1 && cutmix) {
        const [h, w] = x.shape.slice(-2) as [number, number];
        const ratio = Math.sqrt(1 - lam);
        const [cutH, cutW] = [Math.floor(h * ratio), Math.floor(w * ratio)];
        const [cy, cx] = [rng.int(0, h), rng.int(0, w)];
        const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
        const [yl, yh] = [clip(cy - (cutH >> 1), h), clip(cy + (cutH >> 1), h)];
        const [xl, xh] = [clip(cx - (cutW >> 1), w), clip(cx + (cutW >> 1), w)];
        mixed = x.clone();
        if (yh > yl && xh > xl)
          mixed
            .narrow(2, yl, yh - yl)
            .narrow(3, xl, xh - xl)
            .copy_(
              x
                .flip([0])
                .narrow(2, yl, yh - yl)
                .narrow(3, xl, xh - xl),
            );
        lam = 1 - ((yh - yl) * (xh - xl)) / (h * w); // the area actually pasted
      } else if (lam < 1) mixed = x.mul(lam).add(x.flip([0]).mul(1 - lam));
      return { x: mixed === x ? x.clone() : mixed, target: mixupTarget(y, this.#o.numClasses, lam, this.#o.labelSmoothing).to(x.dtype) };
    });
  }
}
