// Where a run's work happens (Lightning's strategy, for one device per process): the model on the
// plan's device in its precision, loaders that feed that device (this rank's share in a
// data-parallel run), the gradients averaged and the step's sums added over the ranks, and when the
// sums are read. The Trainer asks it; it decides nothing the plan has not.
import * as data from '../data/index.js';
import { type DistContext, DistributedDataParallel, collective } from '../distributed/index.js';
import { type Device, type ResolvedPrecision, type Tensor, cat, dist, tensor } from '../engine/index.js';
import type { Classifier } from '../models/index.js';
import type { TrainConfig } from './config.js';
import type { RunPlan } from './plan.js';
import { placeFor } from './precision.js';

type LoaderConfig = Pick<TrainConfig, 'batchSize' | 'workers' | 'skipBadImages'>;

export class Placement {
  readonly device: Device;
  readonly precision: ResolvedPrecision;
  /** Steps between reads of the sums (the plan's cadence; 1 in a data-parallel run). */
  readonly readEvery: number;
  /** This process's place in a data-parallel run (its process group joined), or null. */
  readonly ctx: DistContext | null;
  /** uint8 batches normalised on the device: by default on a CUDA device only; true on the CPU tests the GPU's feed. */
  readonly uint8: boolean | undefined;

  constructor(where: Pick<RunPlan, 'device' | 'precision'> & { readEvery?: number }, ctx: DistContext | null = null, o: { uint8?: boolean } = {}) {
    this.device = where.device;
    this.precision = where.precision;
    this.ctx = ctx && dist.processGroup() ? ctx : null;
    this.readEvery = this.ctx ? 1 : (where.readEvery ?? 1);
    this.uint8 = o.uint8;
  }

  /** A model on the device, in its precision's memory format and dtype. */
  model<M extends Classifier>(model: M): M {
    return placeFor(this.precision, model, this.device);
  }

  /** The shuffled training batches of this rank: in a data-parallel run its share of every global batch (padded so the ranks step alike). */
  trainLoader(
    dataset: data.SampleList,
    config: LoaderConfig & { seed: number },
    o: { pipeline: data.Pipeline; batchSize: number; dropLast: boolean },
  ): data.DeviceLoader {
    return new data.DeviceLoader(dataset, {
      device: this.device,
      uint8: this.uint8,
      batchSize: o.batchSize,
      pipeline: o.pipeline,
      shuffle: true,
      dropLast: o.dropLast,
      seed: config.seed,
      workers: config.workers,
      skipBadImages: config.skipBadImages,
      shard: this.#shard(true),
    });
  }

  /** Evaluation batches in dataset order: in a data-parallel run this rank's unpadded share (collectOutputs gathers them). */
  evalLoader(dataset: data.SampleList, config: LoaderConfig, pipeline: data.Pipeline): data.DeviceLoader {
    return new data.DeviceLoader(dataset, {
      device: this.device,
      uint8: this.uint8,
      batchSize: config.batchSize,
      pipeline,
      workers: config.workers,
      skipBadImages: config.skipBadImages,
      shard: this.#shard(false),
    });
  }

  #shard(pad: boolean): { rank: number; count: number; pad: boolean } | null {
    const ctx = this.ctx;
    return ctx && ctx.worldSize > 1 ? { rank: ctx.rank, count: ctx.worldSize, pad } : null;
  }

  /** Data parallelism over the model (rank 0's weights broadcast to every rank), or null in one process. */
  wrap(model: Classifier, o: { syncBatchNorm: boolean }): DistributedDataParallel | null {
    return this.ctx && collective(this.ctx, 'broadcasting the initial weights', () => new DistributedDataParallel(model, o));
  }

  /**
   * A micro-batch's [Σ loss·images, correct] over the ranks, with their images and whether any
   * rank asked to stop; `nonFinite` is the mean loss when it is not finite. In a data-parallel run
   * this is one all-reduce before backward, so that a rank whose loss is not finite stops with the
   * others; in one process nothing is read (the sums stay where the model is).
   */
  reduceSums(sums: Tensor, count: number, stop: boolean, at: string): { sums: Tensor; count: number; stop: boolean; nonFinite: number | null } {
    const ctx = this.ctx;
    if (!ctx) return { sums, count, stop, nonFinite: null };
    const all = cat([sums, tensor([count, stop ? 1 : 0], { dtype: 'float64' })]);
    collective(ctx, at, () => dist.allReduce([all], 'sum'));
    const [lossSum, , images, stops] = all.toFlatArray() as [number, number, number, number];
    return { sums: all.narrow(0, 0, 2), count: images, stop: stops > 0, nonFinite: Number.isFinite(lossSum) ? null : lossSum / images };
  }

  /** Whether a step's sums are read now: on a stop, at the epoch's last step, and every readEvery steps. */
  readsAt(step: number, o: { stop: boolean; last: boolean }): boolean {
    return o.stop || o.last || step % this.readEvery === 0;
  }
}
