// Label smoothing beyond the seed, each a few lines over crossEntropy and tensor ops:
// mixup/CutMix soft targets, Online Label Smoothing, the confidence penalty, distillation.
// (The ε/(C−1) convention and per-class ε are options of crossEntropy itself.)
import { type Device, F, type Reduction, type Tensor, eye, keep, noGrad, tidy, where, zeros } from '../engine/index.js';
import { crossEntropy } from './cross-entropy.js';

/**
 * timm's mixup_target: the soft targets of a batch mixed with its own reverse (mixup or CutMix with
 * weight λ), each one-hot smoothed to t·(1 − ε) + ε/C: λ·smooth(y) + (1 − λ)·smooth(flip(y)).
 */
export function mixupTarget(target: Tensor, numClasses: number, lam: number, smoothing = 0): Tensor {
  return tidy(() => {
    const off = smoothing / numClasses;
    const on = 1 - smoothing + off;
    const smoothed = (y: Tensor) =>
      F.oneHot(y.to('int64'), numClasses)
        .to('float32')
        .mul(on - off)
        .add(off);
    return smoothed(target)
      .mul(lam)
      .add(smoothed(target.flip(0)).mul(1 - lam));
  });
}

/** timm's SoftTargetCrossEntropy: the batch mean of Σ_c −t_c·log p_c (crossEntropy with probabilities). */
export function softTargetCrossEntropy(input: Tensor, target: Tensor): Tensor {
  return crossEntropy(input, target.to(input.dtype));
}

export interface ConfidencePenaltyOptions {
  /** Strength of the entropy bonus (Pereyra et al. use 0.1–2.5 depending on the task). */
  beta?: number;
  reduction?: Reduction;
  labelSmoothing?: number;
}

/** Pereyra et al. 2017: CE − β·H(p), penalizing confident (low-entropy) predictions. Input (N, C). */
export function confidencePenalty(input: Tensor, target: Tensor, o: ConfidencePenaltyOptions = {}): Tensor {
  return tidy(() => {
    const logProbs = F.logSoftmax(input, 1);
    const entropy = logProbs.exp().mul(logProbs).sum(1).neg();
    const ce = crossEntropy(input, target, { reduction: 'none', labelSmoothing: o.labelSmoothing ?? 0 });
    const loss = ce.sub(entropy.mul(o.beta ?? 0.1));
    const reduction = o.reduction ?? 'mean';
    return reduction === 'none' ? loss : reduction === 'sum' ? loss.sum() : loss.mean();
  });
}

export interface DistillationOptions {
  /** Weight of the distillation term: (1 − β)·CE + β·T²·KL. */
  beta?: number;
  /** Softmax temperature T for both teacher and student. */
  temperature?: number;
  /** Smoothing of the hard-label term (Müller et al.: a smoothed teacher distills worse). */
  labelSmoothing?: number;
}

/**
 * Hinton et al. 2015: (1 − β)·CE(student, y) + β·T²·KL(softmax(teacher/T) ‖ softmax(student/T)),
 * the KL averaged over the batch. The T² keeps the soft term's gradient scale independent of T.
 * The teacher's logits get no gradient.
 */
export function distillationLoss(student: Tensor, teacher: Tensor, target: Tensor, o: DistillationOptions = {}): Tensor {
  const beta = o.beta ?? 0.5;
  const t = o.temperature ?? 4;
  return tidy(() => {
    const hard = crossEntropy(student, target, { labelSmoothing: o.labelSmoothing ?? 0 });
    const teacherProbs = noGrad(() => F.softmax(teacher.detach().div(t), 1));
    const soft = F.klDiv(F.logSoftmax(student.div(t), 1), teacherProbs, { reduction: 'batchmean' });
    return hard.mul(1 - beta).add(soft.mul(beta * t * t));
  });
}

export interface OnlineLabelSmoothingState {
  /** Row c: the soft target used for true class c in the current epoch. */
  supervise: Tensor;
  /** Row c: the sum of this epoch's correct predicted distributions for class c. */
  update: Tensor;
  /** How many correct predictions of each class this epoch has seen. */
  counts: Tensor;
}

/**
 * Online Label Smoothing (Zhang et al. 2021): α·CE(x, y) + (1 − α)·CE(x, S[y]), where row S[c] is
 * the mean predicted distribution of the previous epoch's correctly classified samples of class c.
 * The first epoch uses plain label smoothing (1 − ε on the class, ε/(C − 1) elsewhere). A class
 * with no correct sample in an epoch keeps its previous row. Call nextEpoch() after each epoch;
 * stateDict()/loadStateDict() carry S and the epoch's running sums through checkpoints.
 */
export class OnlineLabelSmoothing {
  training = true;
  #state: OnlineLabelSmoothingState;

  constructor(
    readonly numClasses: number,
    readonly alpha = 0.5,
    readonly smoothing = 0.1,
  ) {
    if (!Number.isInteger(numClasses) || numClasses < 2) throw new Error(`OnlineLabelSmoothing: numClasses must be an integer ≥ 2, got ${numClasses}`);
    const off = smoothing / (numClasses - 1);
    const supervise = tidy(() =>
      eye(numClasses)
        .mul(1 - smoothing - off)
        .add(off),
    );
    this.#state = {
      supervise: keep(supervise),
      update: keep(zeros([numClasses, numClasses])),
      counts: keep(zeros([numClasses])),
    };
  }

  get supervise(): Tensor {
    return this.#state.supervise;
  }

  /** Input (N, C) logits, target (N) class indices. In training, also records correct predictions. */
  forward(input: Tensor, target: Tensor): Tensor {
    return tidy(() => {
      const hardLoss = crossEntropy(input, target); // first: it checks the arguments
      this.#moveTo(input.device);
      const logProbs = F.logSoftmax(input, 1);
      if (this.training) noGrad(() => this.#record(logProbs.detach().exp(), target));
      const soft = this.#state.supervise.to(input.dtype).indexSelect(0, target);
      const softLoss = logProbs.mul(soft).sum(1).neg().mean();
      return hardLoss.mul(this.alpha).add(softLoss.mul(1 - this.alpha));
    });
  }

  #record(probs: Tensor, target: Tensor): void {
    tidy(() => {
      // Every row added, the wrong ones as zeros (exact: x + 0 = x): no nonzero(), whose size would
      // make a CUDA run wait for the device every step.
      const correct = probs.argmax(1).eq(target).to('float32');
      this.#state.update.indexAdd_(0, target, probs.to('float32').mul(correct.unsqueeze(1)));
      this.#state.counts.indexAdd_(0, target, correct);
    });
  }

  /** The state follows the logits to their device (a CUDA run's), the first time it sees them there. */
  #moveTo(device: string): void {
    if (this.#state.supervise.device === device) return;
    for (const name of ['supervise', 'update', 'counts'] as const) {
      const old = this.#state[name];
      this.#state[name] = keep(old.to(device as Device));
      old.dispose();
    }
  }

  /** Ends an epoch: S[c] becomes the mean correct prediction of class c (where there was one). */
  nextEpoch(): void {
    const { supervise, update, counts } = this.#state;
    const next = tidy(() => {
      const seen = counts.gt(0).unsqueeze(1);
      return keep(where(seen, update.div(counts.clamp(1).unsqueeze(1)), supervise));
    });
    supervise.dispose();
    this.#state.supervise = next;
    update.zero_();
    counts.zero_();
  }

  /** Copies of S, the running sums and counts, for a checkpoint. */
  stateDict(): OnlineLabelSmoothingState {
    const { supervise, update, counts } = this.#state;
    return { supervise: supervise.clone(), update: update.clone(), counts: counts.clone() };
  }

  loadStateDict(state: OnlineLabelSmoothingState): void {
    const c = this.numClasses;
    const expect = (name: keyof OnlineLabelSmoothingState, shape: number[]) => {
      const got = state[name].shape;
      if (got.length !== shape.length || got.some((s, i) => s !== shape[i]))
        throw new Error(`OnlineLabelSmoothing.loadStateDict: ${name} must have shape [${shape}], got [${got}]`);
    };
    expect('supervise', [c, c]);
    expect('update', [c, c]);
    expect('counts', [c]);
    for (const name of ['supervise', 'update', 'counts'] as const) this.#state[name].copy_(state[name]);
  }

  dispose(): void {
    for (const t of Object.values(this.#state)) t.dispose();
  }
}
