// One batch's images decoded and transformed into one float array: the unit of work that a worker
// thread (or the main thread, with no workers) does. Plain data in, plain data out.
import { Rng } from './rng.js';
import type { ImageSource } from './sources.js';
import { type RawImage, decode } from './image.js';
import { type Pipeline, applyTransforms, toNormalizedCHW } from './transforms.js';

export interface BatchJob {
  id: number;
  items: Array<{ index: number; source: ImageSource; where: string; rngKeys: number[] }>;
  pipeline: Pipeline;
  /** The pixels as they are (uint8, CHW), normalised later where the model is (DeviceNormalizer); else float32, normalised. */
  uint8?: boolean;
}

export interface BatchResult {
  id: number;
  /** [kept images, C, H, W] values, concatenated: float32 normalised, or uint8 pixels (job.uint8). */
  data: Float32Array | Uint8Array;
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
      let decoded: RawImage;
      try {
        decoded = await decode(item.source);
      } catch (e) {
        return { item, message: (e as Error).message };
      }
      // An image that decodes is readable: a transform that fails on it is the recipe's problem
      // (--image-size too large, a crop larger than the image), not one to skip image by image.
      try {
        return { item, img: await applyTransforms(decoded, job.pipeline.transforms, new Rng(...item.rngKeys)) };
      } catch (e) {
        return { item, pipelineError: `${item.where}: the image was read, but the recipe's transforms failed on it: ${(e as Error).message}` };
      }
    }),
  );
  const broken = images.find((r) => r.pipelineError);
  if (broken) return { id: job.id, data: new Float32Array(0), shape: null, kept: [], failures: [], error: broken.pipelineError };
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
  if (job.uint8) {
    const pixels = new Uint8Array(good.length * c * height * width);
    for (const [k, g] of good.entries()) toCHW(g.img, c, pixels, k * c * height * width);
    return { id: job.id, data: pixels, shape: [c, height, width], kept: good.map((g) => g.index), failures };
  }
  const data = new Float32Array(good.length * c * height * width);
  for (const [k, g] of good.entries()) toNormalizedCHW(g.img, job.pipeline, data, k * c * height * width);
  return { id: job.id, data, shape: [c, height, width], kept: good.map((g) => g.index), failures };
}

/** HWC pixels to CHW, a grey image repeated into colour (as toNormalizedCHW); colour to grey is not a copy and is refused. */
function toCHW(img: { data: Uint8Array; width: number; height: number; channels: number }, c: number, out: Uint8Array, offset: number): void {
  const plane = img.width * img.height;
  if (img.channels !== c && img.channels !== 1)
    throw new Error(`uint8 batches hold the pixels as decoded: a ${img.channels}-channel image cannot become ${c} channels without arithmetic`);
  const step = img.channels;
  for (let k = 0; k < c; k++) {
    const src = step === 1 ? 0 : k;
    const base = offset + k * plane;
    for (let i = 0; i < plane; i++) out[base + i] = img.data[i * step + src]!;
  }
}
