// Learning-rate schedules with PyTorch's semantics: constructing one sets the epoch-0 rate,
// each step() advances one epoch (or one iteration: the schedule does not know which, the caller
// steps it where PyTorch's user would). Closed forms of torch.optim.lr_scheduler.
import type { Optimizer } from './optimizer.js';

type AnyOptimizer = Optimizer<{ lr: number }>;

export abstract class LRScheduler {
  lastEpoch = -1;
  protected readonly baseLrs: number[];

  constructor(readonly optimizer: AnyOptimizer) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr);
  }

  /** The rate of group `i` at `epoch`. */
  abstract lrAt(epoch: number, i: number): number;

  /** Subclasses call this last in their constructor: PyTorch's initial step to epoch 0. */
  protected start(): void {
    this.step();
  }

  step(): void {
    this.lastEpoch += 1;
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.lrAt(this.lastEpoch, i);
    });
  }

  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): { lastEpoch: number } {
    return { lastEpoch: this.lastEpoch };
  }

  loadStateDict(sd: { lastEpoch: number }): void {
    this.lastEpoch = sd.lastEpoch - 1;
    this.step();
  }
}

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer, got ${v}`);
}

/** base · γ^⌊epoch / stepSize⌋ */
export class StepLR extends LRScheduler {
  constructor(
    optimizer: AnyOptimizer,
    readonly stepSize: number,
    readonly gamma = 0.1,
  ) {
    super(optimizer);
    checkPositiveInt('StepLR: stepSize', stepSize);
    this.start();
  }
  lrAt(epoch: number, i: number): number {
    return this.baseLrs[i]! * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** base · γ^(number of milestones ≤ epoch) */
export class MultiStepLR extends LRScheduler {
  readonly milestones: number[];
  constructor(
    optimizer: AnyOptimizer,
    milestones: number[],
    readonly gamma = 0.1,
  ) {
    super(optimizer);
    this.milestones = [...milestones].sort((a, b) => a - b);
    this.start();
  }
  lrAt(epoch: number, i: number): number {
    return this.baseLrs[i]! * this.gamma ** this.milestones.filter((m) => m <= epoch).length;
  }
}

/** η_min + (base − η_min)·(1 + cos(π·epoch / T_max)) / 2 */
export class CosineAnnealingLR extends LRScheduler {
  constructor(
    optimizer: AnyOptimizer,
    readonly tMax: number,
    readonly etaMin = 0,
  ) {
    super(optimizer);
    checkPositiveInt('CosineAnnealingLR: tMax', tMax);
    this.start();
  }
  lrAt(epoch: number, i: number): number {
    return this.etaMin + ((this.baseLrs[i]! - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }
}

/** Linear warm-up: base · (start + (end − start)·min(epoch, totalIters) / totalIters) */
export class LinearLR extends LRScheduler {
  constructor(
    optimizer: AnyOptimizer,
    readonly startFactor = 1 / 3,
    readonly endFactor = 1,
    readonly totalIters = 5,
  ) {
    super(optimizer);
    if (!(startFactor > 0 && startFactor <= 1)) throw new Error(`LinearLR: startFactor must be in (0, 1], got ${startFactor}`);
    if (!(endFactor >= 0 && endFactor <= 1)) throw new Error(`LinearLR: endFactor must be in [0, 1], got ${endFactor}`);
    checkPositiveInt('LinearLR: totalIters', totalIters);
    this.start();
  }
  lrAt(epoch: number, i: number): number {
    const f = this.startFactor + ((this.endFactor - this.startFactor) * Math.min(epoch, this.totalIters)) / this.totalIters;
    return this.baseLrs[i]! * f;
  }
}

/** Runs schedulers one after another, switching at the milestones (e.g. LinearLR warm-up, then cosine). */
export class SequentialLR extends LRScheduler {
  constructor(
    optimizer: AnyOptimizer,
    readonly schedulers: LRScheduler[],
    readonly milestones: number[],
  ) {
    super(optimizer);
    if (milestones.length !== schedulers.length - 1)
      throw new Error(`SequentialLR: expected ${schedulers.length - 1} milestones for ${schedulers.length} schedulers, got ${milestones.length}`);
    this.start();
  }
  lrAt(epoch: number, i: number): number {
    const k = this.milestones.filter((m) => m <= epoch).length;
    return this.schedulers[k]!.lrAt(epoch - (k > 0 ? this.milestones[k - 1]! : 0), i);
  }
}

export interface OneCycleOptions {
  totalSteps: number;
  pctStart?: number;
  annealStrategy?: 'cos' | 'linear';
  divFactor?: number;
  finalDivFactor?: number;
  threePhase?: boolean;
  cycleMomentum?: boolean;
  baseMomentum?: number;
  maxMomentum?: number;
}

/**
 * Smith & Topin's one-cycle policy as PyTorch's OneCycleLR: from maxLr/divFactor up to maxLr over
 * pctStart of the steps, then down to maxLr/(divFactor·finalDivFactor); momentum (SGD's momentum or
 * Adam's β1) cycles the other way. Stepped once per batch; stepping past totalSteps is an error.
 */
export class OneCycleLR extends LRScheduler {
  readonly #phases: Array<{ end: number; lr: [string, string]; momentum: [string, string] }>;
  readonly #maxLrs: number[];
  readonly #o: Required<OneCycleOptions>;

  constructor(optimizer: AnyOptimizer, maxLr: number | number[], o: OneCycleOptions) {
    super(optimizer);
    this.#o = {
      pctStart: 0.3,
      annealStrategy: 'cos',
      divFactor: 25,
      finalDivFactor: 1e4,
      threePhase: false,
      cycleMomentum: true,
      baseMomentum: 0.85,
      maxMomentum: 0.95,
      ...o,
    };
    checkPositiveInt('OneCycleLR: totalSteps', o.totalSteps);
    const { pctStart, totalSteps } = this.#o;
    if (!(pctStart >= 0 && pctStart <= 1)) throw new Error(`OneCycleLR: pctStart must be in [0, 1], got ${pctStart}`);
    this.#maxLrs = optimizer.paramGroups.map((_, i) => (Array.isArray(maxLr) ? maxLr[i]! : maxLr));
    const up = pctStart * totalSteps - 1;
    this.#phases = this.#o.threePhase
      ? [
          { end: up, lr: ['initial', 'max'], momentum: ['max', 'base'] },
          { end: 2 * pctStart * totalSteps - 2, lr: ['max', 'initial'], momentum: ['base', 'max'] },
          { end: totalSteps - 1, lr: ['initial', 'min'], momentum: ['max', 'max'] },
        ]
      : [
          { end: up, lr: ['initial', 'max'], momentum: ['max', 'base'] },
          { end: totalSteps - 1, lr: ['max', 'min'], momentum: ['base', 'max'] },
        ];
    optimizer.paramGroups.forEach((g, i) => {
      g.initialLr = this.#maxLrs[i]! / this.#o.divFactor;
      this.baseLrs[i] = g.initialLr;
    });
    this.start();
  }

  #value(kind: string, i: number, isLr: boolean): number {
    if (!isLr) return kind === 'max' ? this.#o.maxMomentum : this.#o.baseMomentum;
    const initial = this.#maxLrs[i]! / this.#o.divFactor;
    return kind === 'initial' ? initial : kind === 'max' ? this.#maxLrs[i]! : initial / this.#o.finalDivFactor;
  }

  #anneal(start: number, end: number, pct: number): number {
    return this.#o.annealStrategy === 'cos' ? end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1) : (end - start) * pct + start;
  }

  #at(step: number, i: number, isLr: boolean): number {
    if (step > this.#o.totalSteps) throw new Error(`OneCycleLR: tried to step ${step} times, more than totalSteps (${this.#o.totalSteps})`);
    let startStep = 0;
    for (const [k, phase] of this.#phases.entries()) {
      if (step <= phase.end || k === this.#phases.length - 1) {
        const pct = (step - startStep) / (phase.end - startStep);
        const [a, b] = isLr ? phase.lr : phase.momentum;
        return this.#anneal(this.#value(a, i, isLr), this.#value(b, i, isLr), pct);
      }
      startStep = phase.end;
    }
    return NaN;
  }

  lrAt(epoch: number, i: number): number {
    return this.#at(epoch, i, true);
  }

  override step(): void {
    super.step();
    if (!this.#o.cycleMomentum) return;
    this.optimizer.paramGroups.forEach((g, i) => {
      const m = this.#at(this.lastEpoch, i, false);
      const group = g as unknown as { momentum?: number; betas?: [number, number] };
      if (group.betas) group.betas = [m, group.betas[1]];
      else group.momentum = m;
    });
  }
}
