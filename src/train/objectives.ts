// What a run minimises, one batch at a time: label-smoothed cross-entropy, Online Label Smoothing
// (with the per-class statistics it keeps across batches), or distillation from a teacher.
import { type DistContext, collective } from '../distributed/index.js';
import { type ResolvedPrecision, type Tensor, dist, noGrad } from '../engine/index.js';
import { OnlineLabelSmoothing, crossEntropy, distillationLoss } from '../losses/index.js';
import type { Classifier } from '../models/index.js';
import { logitsIn } from './precision.js';

export interface Objective {
  /** The batch's mean loss (x: the inputs, which a teacher reads; y: the labels; target: mixup's soft targets, when mixed). */
  loss(logits: Tensor, batch: { x: Tensor; y: Tensor; target?: Tensor }): Tensor;
  /**
   * State kept across batches, for a checkpoint (saved under 'loss.'): new tensors the caller
   * disposes. In a data-parallel run every rank calls it (it may sum over ranks).
   */
  stateDict?(ctx: DistContext | null): Record<string, Tensor>;
  /** Restores what stateDict saved; in a data-parallel run every rank loads the same file. */
  loadStateDict?(state: Record<string, Tensor>, ctx: DistContext | null): void;
  /** After each epoch's training batches, on every rank. */
  endEpoch?(ctx: DistContext | null): void;
  dispose?(): void;
}

/** What an objective is built from: the run's classes and options. */
export interface ObjectiveOptions {
  numClasses: number;
  smoothing: number;
  olsAlpha: number;
}

/** Cross-entropy against ε-smoothed one-hot targets (PyTorch's label_smoothing), or against a mixed batch's soft targets (ε folded in: timm's SoftTargetCrossEntropy). */
export class SmoothedCrossEntropy implements Objective {
  constructor(readonly smoothing: number) {}
  loss(logits: Tensor, b: { y: Tensor; target?: Tensor }): Tensor {
    if (b.target) return crossEntropy(logits, b.target);
    return crossEntropy(logits, b.y, { labelSmoothing: this.smoothing });
  }
}

/**
 * Online Label Smoothing (Zhang et al. 2021): targets are each class's mean correct prediction of
 * the previous epoch. In a data-parallel run each rank records its own batches; the sums are
 * added over ranks at an epoch's end and in a mid-epoch checkpoint, which rank 0 alone carries on.
 */
export class OnlineLabelSmoothingObjective implements Objective {
  readonly ols: OnlineLabelSmoothing;
  constructor(o: ObjectiveOptions) {
    this.ols = new OnlineLabelSmoothing(o.numClasses, o.olsAlpha, o.smoothing);
  }
  loss(logits: Tensor, b: { y: Tensor }): Tensor {
    return this.ols.forward(logits, b.y);
  }
  stateDict(ctx: DistContext | null): Record<string, Tensor> {
    const st = this.ols.stateDict();
    if (ctx) collective(ctx, 'summing the label-smoothing statistics', () => dist.allReduce([st.update, st.counts], 'sum'));
    return { ...st };
  }
  loadStateDict(st: Record<string, Tensor>, ctx: DistContext | null): void {
    const get = (k: string) => {
      const t = st[k];
      if (!t) throw new Error(`the checkpoint's Online Label Smoothing state has no '${k}'`);
      return t;
    };
    this.ols.loadStateDict({ supervise: get('supervise'), update: get('update'), counts: get('counts') });
    // The epoch's sums were saved summed over ranks: rank 0 carries them on.
    if (ctx && ctx.rank !== 0) {
      const own = this.ols.stateDict();
      own.update.zero_();
      own.counts.zero_();
      this.ols.loadStateDict(own);
      for (const t of Object.values(own)) t.dispose();
    }
  }
  endEpoch(ctx: DistContext | null): void {
    if (ctx) {
      const st = this.stateDict(ctx);
      this.ols.loadStateDict({ supervise: st.supervise!, update: st.update!, counts: st.counts! });
      for (const t of Object.values(st)) t.dispose();
    }
    this.ols.nextEpoch();
  }
  dispose(): void {
    this.ols.dispose();
  }
}

/** Knowledge distillation: (1 − β)·CE(ε) + β·T²·KL(teacher_T ‖ student_T), the teacher in eval mode. */
export class Distillation implements Objective {
  constructor(
    readonly teacher: Classifier,
    readonly o: { temperature: number; beta: number; smoothing: number; precision: ResolvedPrecision },
  ) {
    teacher.eval();
  }
  loss(logits: Tensor, b: { x: Tensor; y: Tensor }): Tensor {
    const teacherLogits = noGrad(() => logitsIn(this.o.precision, this.teacher, b.x));
    return distillationLoss(logits, teacherLogits, b.y, { beta: this.o.beta, temperature: this.o.temperature, labelSmoothing: this.o.smoothing });
  }
}
