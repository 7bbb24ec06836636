// Batches where the model is: uint8 pixels copied to the device one batch ahead (from pinned
// memory, the host not waiting) and normalised there, as timm's PrefetchLoader does. The normalisation
// is a lookup table computed as the workers compute it, so the two give the same bits.
import { type Device, type Tensor, arange, fromTypedArray, isCuda, keep, tidy } from '../engine/index.js';
import { type Batch, DataLoader, type LoaderOptions } from './loader.js';
import type { Dataset } from './sources.js';
import type { Pipeline } from './transforms.js';

/** The workers' (v/255 − mean[c]) / std[c] for every byte v of every channel c: [C·256] float32. */
export function normalizationTable(pipeline: Pipeline): Float32Array {
  const c = pipeline.channels;
  const table = new Float32Array(c * 256);
  for (let k = 0; k < c; k++) {
    const m = pipeline.mean[Math.min(k, pipeline.mean.length - 1)]!;
    const sd = pipeline.std[Math.min(k, pipeline.std.length - 1)]!;
    // In float64, rounded once to float32: as native/image.cc's normalize_chw.
    for (let v = 0; v < 256; v++) table[k * 256 + v] = (v / 255 - m) / sd;
  }
  return table;
}

/** Normalises uint8 [n, C, H, W] pixels where they are (the table on their device, made once per device). */
export class DeviceNormalizer {
  readonly #table: Float32Array;
  readonly #onDevice = new Map<string, { table: Tensor; offsets: Tensor }>();

  constructor(readonly pipeline: Pipeline) {
    this.#table = normalizationTable(pipeline);
  }

  normalize(pixels: Tensor): Tensor {
    if (pixels.dtype !== 'uint8' || pixels.ndim !== 4 || pixels.shape[1] !== this.pipeline.channels)
      throw new Error(`DeviceNormalizer: expected uint8 pixels [n, ${this.pipeline.channels}, H, W], got ${pixels.dtype} [${pixels.shape}]`);
    const device = pixels.device as Device;
    let t = this.#onDevice.get(device);
    if (!t) {
      t = {
        table: keep(fromTypedArray(this.#table, undefined, { device })),
        offsets: keep(tidy(() => arange(0, this.pipeline.channels * 256, 256, { dtype: 'int64', device }).view(1, -1, 1, 1))),
      };
      this.#onDevice.set(device, t);
    }
    const { table, offsets } = t;
    return tidy(() => table.indexSelect(0, pixels.to('int64').add(offsets).flatten()).view(...pixels.shape));
  }

  dispose(): void {
    for (const t of this.#onDevice.values()) {
      t.table.dispose();
      t.offsets.dispose();
    }
    this.#onDevice.clear();
  }
}

/**
 * A batch on `device`, its images float32 and normalised: copied without waiting when the batch is
 * in pinned memory, normalised there when it holds uint8 pixels. On the CPU a normalised batch is
 * itself. Dispose the result (it does not dispose `batch`).
 */
export function batchOn(batch: Batch, device: Device, normalizer: DeviceNormalizer | null): { x: Tensor; y: Tensor; dispose(): void } {
  const nonBlocking = batch.x.isPinned;
  const x = device === 'cpu' ? batch.x : batch.x.to(device, { nonBlocking });
  const y = device === 'cpu' ? batch.y : batch.y.to(device, { nonBlocking });
  let input = x;
  if (x.dtype === 'uint8') {
    if (!normalizer) throw new Error('batchOn: a batch of uint8 pixels needs the normalizer of its pipeline');
    input = normalizer.normalize(x);
    if (x !== batch.x) x.dispose();
  }
  const own = [input, y].filter((t) => t !== batch.x && t !== batch.y);
  return {
    x: input,
    y,
    dispose: () => {
      for (const t of own) t.dispose();
    },
  };
}

/**
 * The batches of `batches` on `device` (batchOn), each copy queued one batch ahead of its use: the
 * host does not wait for it, and the device runs it in order with the steps (as PyTorch's
 * pin_memory with non_blocking copies). Each yielded batch is the consumer's to dispose (with
 * the loader's batch it came from).
 */
export async function* prefetchTo(batches: AsyncIterable<Batch>, device: Device, normalizer: DeviceNormalizer | null): AsyncGenerator<StagedBatch> {
  let pending: StagedBatch | null = null;
  try {
    if (device === 'cpu') {
      // Nothing to copy ahead: one batch at a time, as the loader gives them.
      for await (const b of batches) yield staged(b, device, normalizer);
      return;
    }
    for await (const b of batches) {
      const current = pending;
      pending = staged(b, device, normalizer);
      if (current) yield current;
    }
    if (pending) {
      const current = pending;
      pending = null;
      yield current;
    }
  } finally {
    pending?.dispose();
  }
}

/** A batch on the model's device, its images float32 and normalised; dispose() frees it and the loader's batch it came from. */
export type StagedBatch = { x: Tensor; y: Tensor; indices: number[]; dispose(): void };

/** A loader's batch on the device (batchOn), owning it: the loader's batch lives as long as its copy (a pinned buffer is not reused while a copy from it may run). */
function staged(b: Batch, device: Device, normalizer: DeviceNormalizer | null): StagedBatch {
  let s: ReturnType<typeof batchOn>;
  try {
    s = batchOn(b, device, normalizer);
  } catch (e) {
    b.dispose();
    throw e;
  }
  return {
    x: s.x,
    y: s.y,
    indices: b.indices,
    dispose: () => {
      s.dispose();
      b.dispose();
    },
  };
}

export interface DeviceLoaderOptions extends Omit<LoaderOptions, 'pixels' | 'pinMemory'> {
  /** Where the model is: each batch arrives there. */
  device: Device;
  /**
   * uint8 pixels, normalised on the device (a quarter of float32's bytes to copy): by default on a
   * CUDA device only; true on the CPU runs the GPU's feed there (tests). A grey pipeline's
   * colour-to-grey conversion is the workers' arithmetic: its batches stay float32 whatever this says.
   */
  uint8?: boolean;
}

/**
 * The loader that feeds a model on its device, as one object (timm's PrefetchLoader): it decides
 * the feed (uint8 pixels from pinned memory on a GPU, normalised there; float32 normalised by the
 * workers elsewhere), owns the normaliser, copies each batch one ahead, and frees all of it on
 * close(). Training, evaluation and prediction use it alike.
 */
export class DeviceLoader {
  readonly loader: DataLoader;
  readonly device: Device;
  /** Normalises the uint8 batches on the device; null when the workers normalise. */
  readonly #normalizer: DeviceNormalizer | null;

  constructor(dataset: Dataset, o: DeviceLoaderOptions) {
    const { device, uint8: wantUint8, ...loaderOptions } = o;
    const uint8 = (wantUint8 ?? isCuda(device)) && o.pipeline.channels === 3;
    this.device = device;
    this.loader = new DataLoader(dataset, { ...loaderOptions, pixels: uint8 ? 'uint8' : 'normalized', pinMemory: isCuda(device) });
    this.#normalizer = uint8 ? new DeviceNormalizer(o.pipeline) : null;
  }

  /** Batches per epoch (this rank's, in a data-parallel run). */
  get length(): number {
    return this.loader.length;
  }
  get batchSize(): number {
    return this.loader.batchSize;
  }
  /** "where: message" of every image skipped so far (with skipBadImages). */
  get badImages(): string[] {
    return this.loader.badImages;
  }
  /** The epoch's order of dataset indices (this rank's share). */
  order(epoch: number): number[] {
    return this.loader.order(epoch);
  }

  /**
   * An epoch's batches on the device, each copy queued one batch ahead; `skip` batches first are
   * dropped as the loader gives them, never copied (a run resumed inside an epoch). Each batch is
   * the consumer's to dispose.
   */
  epoch(epoch = 0, o: { skip?: number } = {}): AsyncGenerator<StagedBatch> {
    const skip = o.skip ?? 0;
    const source = this.loader.epoch(epoch);
    const kept = skip === 0 ? source : dropFirst(source, skip);
    return prefetchTo(kept, this.device, this.#normalizer);
  }

  /** Stops the workers and frees the normaliser's tables on the device. */
  async close(): Promise<void> {
    try {
      await this.loader.close();
    } finally {
      this.#normalizer?.dispose();
    }
  }
}

async function* dropFirst(batches: AsyncIterable<Batch>, n: number): AsyncGenerator<Batch> {
  let k = 0;
  for await (const b of batches) {
    if (k++ < n) b.dispose();
    else yield b;
  }
}
