// The DataLoader: seeded per-epoch order, batches decoded and augmented by a pool of worker
// threads with a bounded prefetch, delivered in order. A sample's augmentation is drawn from the
// stream (seed, epoch, sample index), so the batches are the same bytes whatever the worker count.
import { Worker } from 'node:worker_threads';
import { writeFileAtomic } from '../io/index.js';
import { type Tensor, fromTypedArray } from '../engine/index.js';
import { type BatchJob, type BatchResult, processBatch } from './batch.js';
import { Rng } from './rng.js';
import type { Dataset } from './sources.js';
import type { Pipeline } from './transforms.js';

export interface LoaderOptions {
  batchSize: number;
  pipeline: Pipeline;
  shuffle?: boolean;
  dropLast?: boolean;
  seed?: number;
  /** Worker threads decoding in parallel; 0 decodes on the main thread. */
  workers?: number;
  /** Batches decoded ahead of the consumer (memory is bounded by this many batches). */
  prefetch?: number;
  /** Unreadable images are left out of their batch and listed in `badImages` instead of stopping. */
  skipBadImages?: boolean;
  /**
   * This process's share of each epoch's order in data-parallel runs: positions rank, rank +
   * count, … (PyTorch's DistributedSampler), so that batch k of every rank together are batch k
   * of one process with count × batchSize. `pad` (training) repeats the order's start until it
   * divides evenly, as DistributedSampler does; without it (evaluation) shares differ by ≤ 1.
   */
  shard?: { rank: number; count: number; pad: boolean } | null;
  /**
   * 'uint8': batches of the pixels as they are ([n, C, H, W] uint8, a quarter of float32's bytes),
   * for a DeviceNormalizer to normalise where the model is, as timm's PrefetchLoader does; the
   * pipeline must give 3 channels. Default 'normalized': float32, normalised by the workers.
   */
  pixels?: 'normalized' | 'uint8';
  /** Batches in page-locked memory, which a CUDA device copies from asynchronously (PyTorch's pin_memory); needs a CUDA build. */
  pinMemory?: boolean;
}

/** A batch: created outside any tidy() scope (the loader is async), so dispose() it when done. */
export interface Batch {
  /** [n, C, H, W] float32, normalised (or uint8 pixels with the loader's pixels: 'uint8'). */
  x: Tensor;
  /** [n] int64 class indices (−1 for unlabeled images). */
  y: Tensor;
  /** Dataset indices of the batch's images. */
  indices: number[];
  dispose(): void;
}

export class DataLoader {
  readonly batchSize: number;
  readonly #o: Required<Omit<LoaderOptions, 'batchSize'>>;
  #workers: Worker[] = [];
  #idle: Worker[] = [];
  #waiting: Array<(w: Worker) => void> = [];
  /** "where: message" of every image skipped so far (with skipBadImages). */
  readonly badImages: string[] = [];

  constructor(
    readonly dataset: Dataset,
    o: LoaderOptions,
  ) {
    if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`DataLoader: batchSize must be a positive integer, got ${o.batchSize}`);
    this.batchSize = o.batchSize;
    const workers = o.workers ?? 0;
    if (!Number.isInteger(workers) || workers < 0) throw new Error(`DataLoader: workers must be an integer ≥ 0, got ${workers}`);
    this.#o = {
      pipeline: o.pipeline,
      shuffle: o.shuffle ?? false,
      dropLast: o.dropLast ?? false,
      seed: o.seed ?? 0,
      workers,
      prefetch: Math.max(1, o.prefetch ?? Math.max(2, 2 * workers)),
      skipBadImages: o.skipBadImages ?? false,
      shard: o.shard ?? null,
      pixels: o.pixels ?? 'normalized',
      pinMemory: o.pinMemory ?? false,
    };
    if (this.#o.pixels === 'uint8' && o.pipeline.channels !== 3)
      throw new Error(`DataLoader: pixels 'uint8' needs a 3-channel pipeline (this one gives ${o.pipeline.channels}: its grey conversion is arithmetic)`);
    const sh = o.shard;
    if (sh && !(Number.isInteger(sh.count) && sh.count >= 1 && Number.isInteger(sh.rank) && sh.rank >= 0 && sh.rank < sh.count))
      throw new Error(`DataLoader: shard must be {rank in 0..count-1, count ≥ 1}, got ${JSON.stringify(sh)}`);
  }

  /** Batches per epoch (of this shard). */
  get length(): number {
    const count = this.#o.shard?.count ?? 1;
    // Dropping the last batch is decided on the global batch, so every shard has the same count.
    if (this.#o.dropLast) return Math.floor(this.dataset.length / (this.batchSize * count));
    return Math.ceil(this.#shardSize() / this.batchSize);
  }

  #shardSize(): number {
    const sh = this.#o.shard;
    if (!sh) return this.dataset.length;
    return sh.pad ? Math.ceil(this.dataset.length / sh.count) : Math.floor((this.dataset.length - sh.rank + sh.count - 1) / sh.count);
  }

  /** The sample order of an epoch (this shard's part of it). */
  order(epoch: number): number[] {
    const n = this.dataset.length;
    const all = this.#o.shuffle ? new Rng(this.#o.seed, 0x0de5, epoch).permutation(n) : Array.from({ length: n }, (_, i) => i);
    const sh = this.#o.shard;
    if (!sh) return all;
    const total = sh.pad ? Math.ceil(n / sh.count) * sh.count : n;
    const mine: number[] = [];
    for (let k = sh.rank; k < total; k += sh.count) mine.push(all[k % n]!);
    return mine;
  }

  /** The batches of one epoch, in order; decoding runs `prefetch` batches ahead. */
  async *epoch(epoch = 0): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const jobs: BatchJob[] = [];
    for (let b = 0; b < this.length; b++) {
      const indices = order.slice(b * this.batchSize, (b + 1) * this.batchSize);
      jobs.push({
        id: b,
        pipeline: this.#o.pipeline,
        uint8: this.#o.pixels === 'uint8',
        items: indices.map((index) => {
          const s = this.dataset.sample(index);
          return { index, source: s.source, where: s.where, rngKeys: [this.#o.seed, epoch, index] };
        }),
      });
    }
    const inFlight: Array<Promise<BatchResult>> = [];
    let next = 0;
    const launch = () => {
      while (next < jobs.length && inFlight.length < this.#o.prefetch) inFlight.push(this.#run(jobs[next++]!));
    };
    launch();
    try {
      while (inFlight.length) {
        const result = await inFlight.shift()!;
        launch();
        const batch = this.#toBatch(result);
        if (batch) yield batch;
      }
    } finally {
      // A consumer that stops early (break, error) lets the rest finish and drops them.
      await Promise.allSettled(inFlight);
    }
  }

  #toBatch(r: BatchResult): Batch | null {
    if (r.error) throw new Error(r.error);
    if (r.failures.length) {
      const lines = r.failures.map((f) => `${f.where}: cannot read the image: ${f.message}`);
      if (!this.#o.skipBadImages)
        throw new Error(
          // eval and predict take no --skip-bad-images: the advice says which commands do.
          `${lines[0]}${lines.length > 1 ? ` (and ${lines.length - 1} more in this batch)` : ''}; fix or remove the image (the training commands, train, compare, demo and distill, take --skip-bad-images to leave unreadable images out)`,
        );
      this.badImages.push(...lines);
    }
    if (r.kept.length === 0 || !r.shape) return null;
    const pinned = this.#o.pinMemory;
    const x = fromTypedArray(r.data, [r.kept.length, ...r.shape], { pinned });
    const y = fromTypedArray(
      BigInt64Array.from(r.kept, (i) => BigInt(this.dataset.sample(i).label)),
      undefined,
      { pinned },
    );
    return {
      x,
      y,
      indices: r.kept,
      dispose: () => {
        x.dispose();
        y.dispose();
      },
    };
  }

  async #run(job: BatchJob): Promise<BatchResult> {
    if (this.#o.workers === 0) return processBatch(job);
    const worker = await this.#acquire();
    let failed = false;
    try {
      return await new Promise<BatchResult>((resolve, reject) => {
        const done = () => {
          worker.off('message', onMessage);
          worker.off('error', onError);
          worker.off('exit', onExit);
        };
        const onMessage = (r: BatchResult) => {
          done();
          resolve(r);
        };
        const onError = (e: Error) => {
          done();
          failed = true;
          reject(new Error(`DataLoader: a worker failed on batch ${job.id}: ${e.message}`));
        };
        const onExit = (code: number) => {
          done();
          failed = true;
          reject(new Error(`DataLoader: a worker exited (code ${code}) during batch ${job.id}`));
        };
        worker.once('message', onMessage);
        worker.once('error', onError);
        worker.once('exit', onExit);
        worker.postMessage(job);
      });
    } finally {
      if (failed) this.#replace(worker);
      else this.#release(worker);
    }
  }

  /** Drops a dead worker; a batch waiting for one gets a new worker instead. */
  #replace(dead: Worker): void {
    this.#workers = this.#workers.filter((w) => w !== dead);
    void dead.terminate();
    const waiter = this.#waiting.shift();
    if (waiter) void this.#acquire().then(waiter);
  }

  #acquire(): Promise<Worker> {
    if (this.#workers.length < this.#o.workers) {
      const w = new Worker(new URL('./worker.js', import.meta.url));
      w.unref();
      this.#workers.push(w);
      return Promise.resolve(w);
    }
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(w: Worker): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(w);
    else this.#idle.push(w);
  }

  /** Writes the skipped images, one per line, to `path` (the run folder's bad-images.txt). */
  saveBadImages(path: string): void {
    writeFileAtomic(path, this.badImages.map((l) => `${l}\n`).join(''));
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    const workers = this.#workers;
    this.#workers = [];
    this.#idle = [];
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
