// A run's learning-rate schedule with timm's two entries: afterUpdate() after every optimizer update
// (timm's step_update) and afterEpoch() after every epoch (timm's step). The schedule knows its
// grain (SCHEDULERS' perBatch): the loop calls both and never asks which.
import type { LRScheduler, Optimizer } from '../optim/index.js';
import { SCHEDULERS } from './registry.js';

export class RunSchedule {
  constructor(
    readonly optimizer: Optimizer<{ lr: number }>,
    /** null: a constant rate (--scheduler none). */
    readonly scheduler: LRScheduler | null,
    /** Stepped after every update (OneCycleLR) rather than every epoch. */
    readonly perBatch: boolean,
  ) {}

  /** The schedule --scheduler names, over `epochs` of `batchesPerEpoch` updates from `lr`. */
  static build(name: string, optimizer: Optimizer<{ lr: number }>, run: { epochs: number; batchesPerEpoch: number; lr: number }): RunSchedule {
    const entry = SCHEDULERS.get(name);
    return new RunSchedule(optimizer, entry.build(optimizer, run), entry.perBatch);
  }

  /** After each optimizer update. */
  afterUpdate(): void {
    if (this.perBatch) this.scheduler?.step();
  }

  /** After each epoch (its metrics written). */
  afterEpoch(): void {
    if (!this.perBatch) this.scheduler?.step();
  }

  /**
   * The rate the epoch's last batch trained with, for its metrics: a per-batch schedule has already
   * stepped past it (also when the run resumed at that epoch's end and trained no batch since).
   */
  lastBatchRate(): number {
    const s = this.scheduler;
    return this.perBatch && s ? s.lrAt(s.lastEpoch - 1, 0) : this.optimizer.paramGroups[0]!.lr;
  }
}
