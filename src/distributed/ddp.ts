// Data-parallel training as torch.nn.parallel.DistributedDataParallel does it: the same initial
// weights everywhere (broadcast from rank 0), gradients averaged across ranks by bucketed
// all-reduces that start during backward, BatchNorm buffers broadcast from rank 0 before each
// forward unless the statistics are synchronised (SyncBatchNorm), where they stay equal.
import { dist } from '../engine/index.js';
import { type Module, convertSyncBatchNorm } from '../nn/index.js';

/** PyTorch's default bucket caps: 25 MiB, and 1 MiB for the first bucket (communication starts early). */
export const BUCKET_BYTES = 25 * 1024 * 1024;
export const FIRST_BUCKET_BYTES = 1024 * 1024;

export class DistributedDataParallel {
  readonly #synced: boolean;
  readonly #reducer: dist.GradientReducer;

  constructor(
    readonly module: Module,
    readonly o: { syncBatchNorm: boolean; bucketBytes?: number },
  ) {
    // In place, as convert_sync_batchnorm: the same parameters and statistics, normalised over every rank's batch.
    this.#synced = o.syncBatchNorm && convertSyncBatchNorm(module) > 0;
    // Every rank starts from rank 0's weights and buffers (a resumed rank 0 included).
    dist.broadcast([...module.parameters(), ...module.buffers()], 0);
    this.#reducer = new dist.GradientReducer(module.parameters(), { bucketBytes: o.bucketBytes ?? BUCKET_BYTES, firstBucketBytes: FIRST_BUCKET_BYTES });
  }

  /**
   * Before a training forward: rank 0's BatchNorm running statistics (DDP's broadcast_buffers);
   * the next backward's gradients will be reduced as they come, unless `reduce` is false
   * (DDP's no_sync: gradients accumulate locally, and the next reduced backward averages the sum).
   */
  beforeForward(o: { reduce?: boolean } = {}): void {
    this.syncBuffers();
    if (o.reduce ?? true) this.#reducer.prepare();
  }

  /**
   * Rank 0's buffers everywhere. Before evaluating: after the last training step each rank's
   * running statistics hold its own batch, and the checkpoint holds rank 0's.
   */
  syncBuffers(): void {
    if (!this.#synced) dist.broadcast(this.module.buffers(), 0);
  }

  /** After backward: every parameter's gradient is the mean over ranks. */
  averageGradients(): void {
    this.#reducer.finish();
  }

  /**
   * Frees the native gradient reducer, which otherwise keeps the module's parameters (and its
   * buckets, as large as the gradients) alive after the module is disposed. The module itself is
   * the caller's. Idempotent; syncBuffers() still works after it, training steps do not.
   */
  dispose(): void {
    this.#reducer.dispose();
  }
}
