// One batch's images decoded and transformed into one float array: the unit of work that a worker
// thread (or the main thread, with no workers) does. Plain data in, plain data out.
import { Rng } from './rng.js';
import type { ImageSource } from './sources.js';
import { type Pipeline, loadImage, toNormalizedCHW } from './transforms.js';

export interface BatchJob {
  id: number;
  items: Array<{ index: number; source: ImageSource; where: string; rngKeys: number[] }>;
  pipeline: Pipeline;
}

export interface BatchResult {
  id: number;
  /** [kept images, C, H, W] values, concatenated. */
  data: Float32Array;
  shape: [number, number, number] | null;
  /** Dataset indices of the images in `data`, in order. */
  kept: number[];
  /** Images that could not be read. */
  failures: Array<{ index: number; where: string; message: string }>;
  /** A problem with the pipeline itself (not skippable). */
  error?: string;
}

export async function processBatch(job: BatchJob): Promise<BatchResult> {
  const images = await Promise.all(
    job.items.map(async (item) => {
      try {
        const img = await loadImage(item.source, job.pipeline.transforms, new Rng(...item.rngKeys));
        return { item, img };
      } catch (e) {
        return { item, message: (e as Error).message };
      }
    }),
  );
  const failures: BatchResult['failures'] = [];
  const good: Array<{ index: number; img: NonNullable<(typeof images)[number]['img']>; where: string }> = [];
  for (const r of images) {
    if (r.img) good.push({ index: r.item.index, img: r.img, where: r.item.where });
    else failures.push({ index: r.item.index, where: r.item.where, message: r.message! });
  }
  if (good.length === 0) return { id: job.id, data: new Float32Array(0), shape: null, kept: [], failures };
  const { width, height } = good[0]!.img;
  const odd = good.find((g) => g.img.width !== width || g.img.height !== height);
  if (odd)
    return {
      id: job.id,
      data: new Float32Array(0),
      shape: null,
      kept: [],
      failures,
      error: `${odd.where}: the transforms give ${odd.img.height}×${odd.img.width}, other images of the batch ${height}×${width}: end the pipeline with a fixed-size crop or resize`,
    };
  const c = job.pipeline.channels;
  const data = new Float32Array(good.length * c * height * width);
  for (const [k, g] of good.entries()) toNormalizedCHW(g.img, job.pipeline, data, k * c * height * width);
  return { id: job.id, data, shape: [c, height, width], kept: good.map((g) => g.index), failures };
}
