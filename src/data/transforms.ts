// Augmentation of decoded images (image.ts), then a normalised float CHW array. Crops and
// resizes are one native resampling pass with PIL's
// antialiased bilinear filter (torchvision's default), a flip right after folded in. A pipeline
// is plain data (it crosses to worker threads); its random draws come from the sample's own Rng
// in a fixed order, so a sample's augmentation depends only on (seed, epoch, sample).
import sharp from 'sharp';
import { native } from '../engine/native.js';
import { randAugment, trivialAugmentWide } from './autoaugment.js';
import { type RawImage, decode, toRaw } from './image.js';
import type { Rng } from './rng.js';
import type { ImageSource } from './sources.js';

type Size = number | [number, number];
export type Transform =
  /** Shorter side to `size` keeping the aspect ratio; [h, w] resizes exactly (torchvision's Resize). */
  | { op: 'resize'; size: Size }
  | { op: 'centerCrop'; size: Size }
  /** torchvision's RandomResizedCrop: area in `scale` of the image, aspect ratio log-uniform in `ratio`. */
  | { op: 'randomResizedCrop'; size: Size; scale?: [number, number]; ratio?: [number, number] }
  | { op: 'randomCrop'; size: Size; padding?: number }
  | { op: 'hflip'; p?: number }
  | { op: 'vflip'; p?: number }
  /** A rotation by a uniform angle in [−degrees, degrees], same size, black corners. */
  | { op: 'rotate'; degrees: number }
  /** torchvision's ColorJitter: factors uniform in [1 − v, 1 + v] (hue: shift in [−v, v]), applied in random order. */
  | { op: 'colorJitter'; brightness?: number; contrast?: number; saturation?: number; hue?: number }
  /**
   * torchvision's RandAugment (PIL semantics, autoaugment.ts): `numOps` ops (default 2) drawn
   * uniformly from 14 (identity, shears, translations, rotation, brightness, colour, contrast,
   * sharpness, posterize, solarize, autocontrast, equalize), each at bin `magnitude` (default 9) of
   * `numMagnitudeBins` (default 31), its sign a coin flip; nearest-neighbour geometry, black fill.
   */
  | { op: 'randaugment'; numOps?: number; magnitude?: number; numMagnitudeBins?: number }
  /** torchvision's TrivialAugmentWide: one op of the same 14 at a uniformly drawn bin of `numMagnitudeBins` (default 31), over wider ranges. */
  | { op: 'trivialaugment'; numMagnitudeBins?: number };

export interface Pipeline {
  transforms: Transform[];
  /** Channels the model takes: grey images are repeated to 3, colour converted to 1. */
  channels: 1 | 3;
  mean: number[];
  std: number[];
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

/** Training: RandomResizedCrop and a horizontal flip, ImageNet normalisation (torchvision's recipe). */
export function trainPipeline(size: number, o: Partial<Pipeline> = {}): Pipeline {
  return { transforms: [{ op: 'randomResizedCrop', size }, { op: 'hflip' }], channels: 3, mean: IMAGENET_MEAN, std: IMAGENET_STD, ...o };
}
/** Evaluation: resize to size·256/224, center crop `size`. */
export function evalPipeline(size: number, o: Partial<Pipeline> = {}): Pipeline {
  return {
    transforms: [
      { op: 'resize', size: Math.round((size * 256) / 224) },
      { op: 'centerCrop', size },
    ],
    channels: 3,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    ...o,
  };
}

const pair = (s: Size): [number, number] => (typeof s === 'number' ? [s, s] : s);

/** The box (left, top, width, height) of `img` resized to outWidth × outHeight, then mirrored. */
function resample(img: RawImage, box: [number, number, number, number], outWidth: number, outHeight: number, hflip = false, vflip = false): RawImage {
  return native.resample(img.data, img.width, img.height, img.channels, box, outWidth, outHeight, hflip, vflip);
}

/** A crop at (top, left); parts outside the image are zero (torchvision pads a too-small image). */
function crop(img: RawImage, top: number, left: number, height: number, width: number): RawImage {
  const { channels: c } = img;
  const out = new Uint8Array(width * height * c);
  for (let y = 0; y < height; y++) {
    const sy = top + y;
    if (sy < 0 || sy >= img.height) continue;
    for (let x = 0; x < width; x++) {
      const sx = left + x;
      if (sx < 0 || sx >= img.width) continue;
      for (let k = 0; k < c; k++) out[(y * width + x) * c + k] = img.data[(sy * img.width + sx) * c + k]!;
    }
  }
  return { data: out, width, height, channels: c };
}

function flip(img: RawImage, horizontal: boolean): RawImage {
  const { width: w, height: h, channels: c } = img;
  const src = img.data;
  const out = new Uint8Array(src.length);
  const row = w * c;
  if (!horizontal) {
    for (let y = 0; y < h; y++) out.set(src.subarray((h - 1 - y) * row, (h - y) * row), y * row);
    return { ...img, data: out };
  }
  for (let y = 0; y < h; y++) {
    const base = y * row;
    for (let x = 0; x < w; x++) {
      const to = base + x * c;
      const from = base + (w - 1 - x) * c;
      for (let k = 0; k < c; k++) out[to + k] = src[from + k]!;
    }
  }
  return { ...img, data: out };
}

/** torchvision's RandomResizedCrop.get_params: (top, left, height, width). */
export function randomResizedCropParams(
  height: number,
  width: number,
  scale: [number, number],
  ratio: [number, number],
  rng: Rng,
): [number, number, number, number] {
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) return [rng.int(0, height - h + 1), rng.int(0, width - w + 1), h, w];
  }
  // Fallback: a center crop at the nearest allowed aspect ratio.
  const inRatio = width / height;
  let [w, h] = [width, height];
  if (inRatio < Math.min(...ratio)) h = Math.round(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = Math.round(h * Math.max(...ratio));
  return [Math.floor((height - h) / 2), Math.floor((width - w) / 2), h, w];
}

function jitter(img: RawImage, t: Extract<Transform, { op: 'colorJitter' }>, rng: Rng): RawImage {
  const factor = (v = 0) => (v > 0 ? rng.uniform(Math.max(0, 1 - v), 1 + v) : null);
  const order = rng.permutation(4);
  const b = factor(t.brightness);
  const c = factor(t.contrast);
  const s = factor(t.saturation);
  const h = t.hue ? rng.uniform(-t.hue, t.hue) : null;
  const px = Float32Array.from(img.data);
  const n = img.width * img.height;
  const ch = img.channels;
  const grey = (i: number) => (ch === 3 ? 0.299 * px[i * 3]! + 0.587 * px[i * 3 + 1]! + 0.114 * px[i * 3 + 2]! : px[i]!);
  const clamp = (v: number) => Math.min(255, Math.max(0, v));
  for (const op of order) {
    if (op === 0 && b !== null) for (let i = 0; i < px.length; i++) px[i] = clamp(px[i]! * b);
    if (op === 1 && c !== null) {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += grey(i);
      mean /= n;
      for (let i = 0; i < px.length; i++) px[i] = clamp(px[i]! * c + mean * (1 - c));
    }
    if (op === 2 && s !== null && ch === 3)
      for (let i = 0; i < n; i++) {
        const g = grey(i);
        for (let k = 0; k < 3; k++) px[i * 3 + k] = clamp(px[i * 3 + k]! * s + g * (1 - s));
      }
    if (op === 3 && h !== null && ch === 3)
      for (let i = 0; i < n; i++) {
        const [hh, ss, vv] = rgbToHsv(px[i * 3]!, px[i * 3 + 1]!, px[i * 3 + 2]!);
        const [r, g, bb] = hsvToRgb((((hh + h) % 1) + 1) % 1, ss, vv);
        px[i * 3] = r;
        px[i * 3 + 1] = g;
        px[i * 3 + 2] = bb;
      }
  }
  return { ...img, data: Uint8Array.from(px, (v) => Math.round(v)) };
}

function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const d = max - min;
  let h = 0;
  if (d > 0) h = max === r ? ((g - b) / d) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return [(((h / 6) % 1) + 1) % 1, max === 0 ? 0 : d / max, max];
}
function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const [p, q, t] = [v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)];
  return (
    [
      [v, t, p],
      [q, v, p],
      [p, v, t],
      [p, q, v],
      [t, p, v],
      [v, p, q],
    ] as const
  )[i % 6]! as [number, number, number];
}

/** Decodes `source` and applies the transforms. */
export async function loadImage(source: ImageSource, transforms: readonly Transform[], rng: Rng): Promise<RawImage> {
  return applyTransforms(await decode(source), transforms, rng);
}

/** torchvision's Resize: an int sets the shorter side (keeping the aspect ratio), [h, w] both. */
function resizedSize(width: number, height: number, size: Size): [number, number] {
  if (typeof size !== 'number') return [size[1], size[0]];
  const short = Math.min(width, height);
  return width <= height ? [size, Math.floor((size * height) / short)] : [Math.floor((size * width) / short), size];
}

/** Applies the transforms in order to decoded pixels, drawing randomness from `rng`. */
export async function applyTransforms(img: RawImage, transforms: readonly Transform[], rng: Rng): Promise<RawImage> {
  for (let i = 0; i < transforms.length; i++) {
    const t = transforms[i]!;
    // A flip right after a resampling op is drawn in its turn and done by the same pass.
    const flipAfter = (): [boolean, boolean] => {
      const next = transforms[i + 1];
      if (!next || (next.op !== 'hflip' && next.op !== 'vflip')) return [false, false];
      i++;
      const on = rng.random() < (next.p ?? 0.5);
      return [on && next.op === 'hflip', on && next.op === 'vflip'];
    };
    switch (t.op) {
      case 'resize': {
        const [w, h] = resizedSize(img.width, img.height, t.size);
        img = resample(img, [0, 0, img.width, img.height], w, h, ...flipAfter());
        break;
      }
      case 'centerCrop': {
        const [h, w] = pair(t.size);
        const box: [number, number, number, number] = [Math.round((img.width - w) / 2), Math.round((img.height - h) / 2), w, h];
        img = resample(img, box, w, h, ...flipAfter());
        break;
      }
      case 'randomResizedCrop': {
        const [top, left, h, w] = randomResizedCropParams(img.height, img.width, t.scale ?? [0.08, 1], t.ratio ?? [3 / 4, 4 / 3], rng);
        const [oh, ow] = pair(t.size);
        img = resample(img, [left, top, w, h], ow, oh, ...flipAfter());
        break;
      }
      case 'randomCrop': {
        const [h, w] = pair(t.size);
        const pad = t.padding ?? 0;
        const [ph, pw] = [img.height + 2 * pad, img.width + 2 * pad];
        if (ph < h || pw < w) throw new Error(`randomCrop: crop ${h}×${w} is larger than the padded image ${ph}×${pw}`);
        img = crop(img, rng.int(0, ph - h + 1) - pad, rng.int(0, pw - w + 1) - pad, h, w);
        break;
      }
      case 'hflip':
      case 'vflip':
        if (rng.random() < (t.p ?? 0.5)) img = flip(img, t.op === 'hflip');
        break;
      case 'rotate': {
        const angle = rng.uniform(-t.degrees, t.degrees);
        const { width, height } = img;
        const input = sharp(img.data, { raw: { width, height, channels: img.channels as 1 | 3 } });
        const rotated = await toRaw(
          input
            .rotate(angle, { background: { r: 0, g: 0, b: 0, alpha: 1 } })
            .removeAlpha()
            .toColourspace(img.channels === 1 ? 'b-w' : 'srgb'),
        );
        img = crop(rotated, Math.round((rotated.height - height) / 2), Math.round((rotated.width - width) / 2), height, width);
        break;
      }
      case 'colorJitter':
        img = jitter(img, t, rng);
        break;
      case 'randaugment':
        img = randAugment(img, rng, t);
        break;
      case 'trivialaugment':
        img = trivialAugmentWide(img, rng, t);
        break;
      default:
        throw new Error(`unknown transform ${JSON.stringify(t)}`);
    }
  }
  return img;
}

/**
 * Writes (v/255 − mean[c]) / std[c] in CHW order into `out` at `offset`, converting grey to colour
 * (repeat) or colour to grey (ITU-R 601 luma, as PIL's convert('L')) to `channels`.
 */
export function toNormalizedCHW(img: RawImage, pipeline: Pipeline, out: Float32Array, offset: number): void {
  native.normalize_chw(img.data, img.width, img.height, img.channels, pipeline.channels, pipeline.mean, pipeline.std, out, offset);
}
