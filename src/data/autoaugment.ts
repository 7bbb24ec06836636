// torchvision's RandAugment and TrivialAugmentWide (torchvision 0.14, transforms/autoaugment.py) on
// uint8 HWC images. torchvision applies its ops to a PIL image by calling PIL, so each op here is
// PIL 9.4's arithmetic: Image.transform(AFFINE, NEAREST) and Image.rotate for the geometric ops
// (fill 0), ImageEnhance's float32 blends, ImageOps' lookup tables. test/autoaugment.test.ts checks
// every op pixel for pixel against torchvision. The policies draw from the sample's Rng in
// torchvision's order (op, magnitude bin, sign), so an augmentation depends only on (seed, epoch, sample).
import type { Rng } from './rng.js';
import type { RawImage } from './image.js';

/** The ops, in torchvision's order (a policy draws an index into this list). */
export const AUGMENT_OPS = [
  'Identity',
  'ShearX',
  'ShearY',
  'TranslateX',
  'TranslateY',
  'Rotate',
  'Brightness',
  'Color',
  'Contrast',
  'Sharpness',
  'Posterize',
  'Solarize',
  'AutoContrast',
  'Equalize',
] as const;
export type AugmentOp = (typeof AUGMENT_OPS)[number];

/** An op's magnitudes, one per bin (null: the op takes none), and whether a coin flip negates them. */
export interface OpMagnitudes {
  magnitudes: number[] | null;
  signed: boolean;
}
export type AugmentationSpace = Record<AugmentOp, OpMagnitudes>;

const op = (magnitudes: number[] | null, signed: boolean): OpMagnitudes => ({ magnitudes, signed });

/** RandAugment's `_augmentation_space`: the magnitudes of `bins` bins for a height × width image. */
export function randAugmentSpace(bins: number, height: number, width: number): AugmentationSpace {
  return {
    Identity: op(null, false),
    ShearX: op(linspace(0, 0.3, bins), true),
    ShearY: op(linspace(0, 0.3, bins), true),
    TranslateX: op(linspace(0, (150 / 331) * width, bins), true),
    TranslateY: op(linspace(0, (150 / 331) * height, bins), true),
    Rotate: op(linspace(0, 30, bins), true),
    Brightness: op(linspace(0, 0.9, bins), true),
    Color: op(linspace(0, 0.9, bins), true),
    Contrast: op(linspace(0, 0.9, bins), true),
    Sharpness: op(linspace(0, 0.9, bins), true),
    Posterize: op(posterizeBits(bins, 4), false),
    Solarize: op(linspace(255, 0, bins), false),
    AutoContrast: op(null, false),
    Equalize: op(null, false),
  };
}

/** TrivialAugmentWide's `_augmentation_space`: wider ranges, independent of the image size. */
export function trivialAugmentWideSpace(bins: number): AugmentationSpace {
  return {
    Identity: op(null, false),
    ShearX: op(linspace(0, 0.99, bins), true),
    ShearY: op(linspace(0, 0.99, bins), true),
    TranslateX: op(linspace(0, 32, bins), true),
    TranslateY: op(linspace(0, 32, bins), true),
    Rotate: op(linspace(0, 135, bins), true),
    Brightness: op(linspace(0, 0.99, bins), true),
    Color: op(linspace(0, 0.99, bins), true),
    Contrast: op(linspace(0, 0.99, bins), true),
    Sharpness: op(linspace(0, 0.99, bins), true),
    Posterize: op(posterizeBits(bins, 6), false),
    Solarize: op(linspace(255, 0, bins), false),
    AutoContrast: op(null, false),
    Equalize: op(null, false),
  };
}

export interface RandAugmentOptions {
  /** Ops applied in sequence (default 2). */
  numOps?: number;
  /** The bin every op takes its magnitude from, 0 … numMagnitudeBins − 1 (default 9). */
  magnitude?: number;
  /** Default 31. */
  numMagnitudeBins?: number;
}

/** An op and the magnitude it is applied at, as a policy draws them. */
export interface AugmentDraw {
  op: AugmentOp;
  magnitude: number;
}

/**
 * RandAugment's draws for a height × width image: per op, an index into AUGMENT_OPS, then for a
 * signed op a coin flip for the sign; every op takes its magnitude from bin `magnitude`.
 */
export function drawRandAugment(rng: Rng, height: number, width: number, o: RandAugmentOptions = {}): AugmentDraw[] {
  const { numOps = 2, magnitude = 9, numMagnitudeBins: bins = 31 } = o;
  checkBins(bins, 'randaugment');
  if (!(Number.isInteger(numOps) && numOps >= 0)) throw new Error(`randaugment: numOps must be an integer ≥ 0, not ${numOps}`);
  if (!(Number.isInteger(magnitude) && magnitude >= 0 && magnitude < bins))
    throw new Error(`randaugment: magnitude must be an integer bin in [0, ${bins - 1}] (numMagnitudeBins ${bins}), not ${magnitude}`);
  const space = randAugmentSpace(bins, height, width);
  return Array.from({ length: numOps }, () => {
    const op = AUGMENT_OPS[rng.int(0, AUGMENT_OPS.length)]!;
    const { magnitudes, signed } = space[op];
    const m = magnitudes ? magnitudes[magnitude]! : 0;
    return { op, magnitude: signed && rng.int(0, 2) === 1 ? -m : m };
  });
}

/** TrivialAugmentWide's draws: an index into AUGMENT_OPS, a bin (only for ops with magnitudes), a coin flip for a signed op's sign. */
export function drawTrivialAugment(rng: Rng, o: { numMagnitudeBins?: number } = {}): AugmentDraw {
  const bins = o.numMagnitudeBins ?? 31;
  checkBins(bins, 'trivialaugment');
  const op = AUGMENT_OPS[rng.int(0, AUGMENT_OPS.length)]!;
  const { magnitudes, signed } = trivialAugmentWideSpace(bins)[op];
  const m = magnitudes ? magnitudes[rng.int(0, magnitudes.length)]! : 0;
  return { op, magnitude: signed && rng.int(0, 2) === 1 ? -m : m };
}

/** torchvision's RandAugment: `numOps` ops drawn uniformly, each at the bin `magnitude`, its sign a coin flip. */
export function randAugment(img: RawImage, rng: Rng, o: RandAugmentOptions = {}): RawImage {
  // The ops draw nothing while applied, so drawing them all first keeps torchvision's order of draws.
  for (const d of drawRandAugment(rng, img.height, img.width, o)) img = applyAugmentOp(img, d.op, d.magnitude);
  return img;
}

/** torchvision's TrivialAugmentWide: one op drawn uniformly, at a uniformly drawn bin, its sign a coin flip. */
export function trivialAugmentWide(img: RawImage, rng: Rng, o: { numMagnitudeBins?: number } = {}): RawImage {
  const d = drawTrivialAugment(rng, o);
  return applyAugmentOp(img, d.op, d.magnitude);
}

function checkBins(bins: number, what: string): void {
  // One bin would divide by zero in the Posterize table, as it does in torchvision.
  if (!(Number.isInteger(bins) && bins >= 2)) throw new Error(`${what}: numMagnitudeBins must be an integer ≥ 2, not ${bins}`);
}

/** One op of torchvision's `_apply_op` on a PIL image (L or RGB), at a magnitude as the policies give it. */
export function applyAugmentOp(img: RawImage, name: AugmentOp, magnitude: number): RawImage {
  if (img.channels !== 1 && img.channels !== 3) throw new Error(`${name}: images must have 1 or 3 channels, not ${img.channels}`);
  const { width: w, height: h } = img;
  switch (name) {
    case 'Identity':
      return img;
    case 'ShearX':
      return pilAffine(img, inverseAffineMatrix([0, 0], 0, [0, 0], [Math.atan(magnitude) * RAD_TO_DEG, 0]));
    case 'ShearY':
      return pilAffine(img, inverseAffineMatrix([0, 0], 0, [0, 0], [0, Math.atan(magnitude) * RAD_TO_DEG]));
    case 'TranslateX':
      return pilAffine(img, inverseAffineMatrix([w * 0.5, h * 0.5], 0, [Math.trunc(magnitude), 0], [0, 0]));
    case 'TranslateY':
      return pilAffine(img, inverseAffineMatrix([w * 0.5, h * 0.5], 0, [0, Math.trunc(magnitude)], [0, 0]));
    case 'Rotate':
      return pilRotate(img, magnitude);
    // ImageEnhance: a blend with a degenerate image (black, grey, the mean grey, smoothed).
    case 'Brightness':
      return blend(new Uint8Array(img.data.length), img, 1 + magnitude);
    case 'Color':
      return blend(fromLuma(luma(img), img.channels), img, 1 + magnitude);
    case 'Contrast':
      return blend(fromLuma(new Uint8Array(w * h).fill(meanLevel(luma(img))), img.channels), img, 1 + magnitude);
    case 'Sharpness':
      return blend(smooth(img), img, 1 + magnitude);
    case 'Posterize': {
      const mask = ~(2 ** (8 - Math.trunc(magnitude)) - 1);
      return lookUp(img, () => Array.from({ length: 256 }, (_, i) => i & mask));
    }
    case 'Solarize':
      return lookUp(img, () => Array.from({ length: 256 }, (_, i) => (i < magnitude ? i : 255 - i)));
    case 'AutoContrast':
      return lookUp(img, autoContrastTable);
    case 'Equalize':
      return lookUp(img, equalizeTable);
  }
}

// ---- magnitude tables: torch.linspace's float32 values ----

/**
 * torch.linspace(start, end, steps) in float32 as Debian's torch 1.13 computes it on x86 (its AVX2
 * kernel): values before the middle as start + i·step, the others as end − (steps − 1 − i)·step,
 * each one fused multiply-add; but whole blocks of 16 from the start are two vectors of 8, each
 * value base + k·step (rounded twice) from its vector's first value. Matched against torch for
 * ~4,000 (end, steps) pairs; a last-bit difference moves a magnitude by ~1e-7 and rarely a pixel.
 */
function linspace(start: number, end: number, steps: number): number[] {
  const f = Math.fround;
  const [s, e] = [f(start), f(end)];
  if (steps === 1) return [s];
  const step = f(f(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  const at = (i: number) => (i < half ? fma32(step, i, s) : fma32(-step, steps - i - 1, e));
  const out: number[] = [];
  let i = 0;
  for (; i + 16 <= steps; i += 16)
    for (const from of [i, i + 8]) {
      const base = at(from);
      for (let k = 0; k < 8; k++) out.push(f(base + f(k * step)));
    }
  for (; i < steps; i++) out.push(at(i));
  return out;
}

/** a·b + c rounded once to float32 (a, b, c float32): the exact product, the sum's rounding error kept for ties. */
function fma32(a: number, b: number, c: number): number {
  const p = a * b; // exact: 24-bit × small-integer significands
  const sum = p + c;
  const bp = sum - c;
  const err = p - bp + (c - (sum - bp)); // TwoSum: sum + err is exactly p + c
  const r = Math.fround(sum);
  if (err === 0 || r === sum) return r;
  // The double rounding of sum can only go wrong when sum lies exactly halfway between two floats.
  const other = nextFloat32(r, sum > r ? 1 : -1);
  if (sum - r !== other - sum) return r;
  return err > 0 === other > r ? other : r;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
function nextFloat32(x: number, dir: 1 | -1): number {
  F32[0] = x;
  if (x === 0) return dir * 2 ** -149;
  U32[0] = U32[0]! + (x > 0 === dir > 0 ? 1 : -1);
  return F32[0]!;
}

/** `8 - (arange(bins) / ((bins - 1) / spread)).round().int()`: float32 division, round half to even. */
function posterizeBits(bins: number, spread: number): number[] {
  const d = Math.fround((bins - 1) / spread);
  return Array.from({ length: bins }, (_, i) => 8 - roundHalfEven(Math.fround(i / d)));
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---- geometry: torchvision's inverse matrix, PIL's nearest-neighbour affine transform ----

// CPython's math.degrees and math.radians multiply by these.
const RAD_TO_DEG = 180 / Math.PI;
const DEG_TO_RAD = Math.PI / 180;

/** torchvision's `_get_inverse_affine_matrix` (angle, shear in degrees; scale 1): output pixel → input pixel. */
function inverseAffineMatrix(center: [number, number], angle: number, translate: [number, number], shear: [number, number]): number[] {
  const rot = angle * DEG_TO_RAD;
  const sx = shear[0] * DEG_TO_RAD;
  const sy = shear[1] * DEG_TO_RAD;
  const [cx, cy] = center;
  const [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0];
  m[2]! += m[0]! * (-cx - tx) + m[1]! * (-cy - ty);
  m[5]! += m[3]! * (-cx - tx) + m[4]! * (-cy - ty);
  m[2]! += cx;
  m[5]! += cy;
  return m;
}

/** PIL's Image.rotate(angle, NEAREST, expand=False, fillcolor=0): counter-clockwise about the centre. */
function pilRotate(img: RawImage, angle: number): RawImage {
  // Python's float modulo: the result takes the divisor's sign, and −0 becomes 0.
  let deg = angle % 360;
  if (deg < 0) deg += 360;
  if (deg === 0) return img;
  if (deg === 180) return transpose(img, 'rotate180');
  if ((deg === 90 || deg === 270) && img.width === img.height) return transpose(img, deg === 90 ? 'rotate90' : 'rotate270');
  const [cx, cy] = [img.width / 2, img.height / 2];
  const t = -(deg * DEG_TO_RAD);
  const m = [round15(Math.cos(t)), round15(Math.sin(t)), 0, round15(-Math.sin(t)), round15(Math.cos(t)), 0];
  m[2] = m[0]! * -cx + m[1]! * -cy + m[2]!;
  m[5] = m[3]! * -cx + m[4]! * -cy + m[5]!;
  m[2]! += cx;
  m[5]! += cy;
  return pilAffine(img, m);
}

/** Python's round(x, 15) for |x| ≤ 1 (correctly rounded decimal; ties, which do not occur here, aside). */
const round15 = (x: number): number => Number(x.toFixed(15));

/** Image.transpose: ROTATE_90 (counter-clockwise), ROTATE_180, ROTATE_270. */
function transpose(img: RawImage, how: 'rotate90' | 'rotate180' | 'rotate270'): RawImage {
  const { width: w, height: h, channels: ch } = img;
  const [ow, oh] = how === 'rotate180' ? [w, h] : [h, w];
  const out = new Uint8Array(img.data.length);
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++) {
      const [sx, sy] = how === 'rotate90' ? [w - 1 - y, x] : how === 'rotate270' ? [y, h - 1 - x] : [w - 1 - x, h - 1 - y];
      for (let k = 0; k < ch; k++) out[(y * ow + x) * ch + k] = img.data[(sy * w + sx) * ch + k]!;
    }
  return { data: out, width: ow, height: oh, channels: ch };
}

/**
 * PIL's ImagingTransformAffine with NEAREST, same size, zero fill: `a` maps an output pixel's
 * centre to input coordinates. Like PIL, a pure scale/translation takes the floating-point path,
 * anything else 16.16 fixed point when the corners fit (always, for images under 32k pixels).
 */
function pilAffine(img: RawImage, a: number[]): RawImage {
  const { width: w, height: h, channels: ch } = img;
  const out = new Uint8Array(img.data.length);
  const put = (x: number, y: number, sx: number, sy: number) => {
    for (let k = 0; k < ch; k++) out[(y * w + x) * ch + k] = img.data[(sy * w + sx) * ch + k]!;
  };
  const coord = (v: number) => (v < 0 ? -1 : Math.trunc(v));
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  if (a1 === 0 && a3 === 0) {
    // ImagingScaleAffine: positions accumulated in double precision.
    const xin: number[] = [];
    let xo = a2 + a0 * 0.5;
    for (let x = 0; x < w; x++, xo += a0) xin.push(coord(xo));
    let yo = a5 + a4 * 0.5;
    for (let y = 0; y < h; y++, yo += a4) {
      const yi = coord(yo);
      if (yi < 0 || yi >= h) continue;
      for (let x = 0; x < w; x++) if (xin[x]! >= 0 && xin[x]! < w) put(x, y, xin[x]!, yi);
    }
    return { ...img, data: out };
  }
  const fits = (x: number, y: number) => Math.abs(x * a0 + y * a1 + a2) < 32768 && Math.abs(x * a3 + y * a4 + a5) < 32768;
  if (fits(0, 0) && fits(w, h) && fits(0, h) && fits(w, 0)) {
    // affine_fixed: 16.16 fixed point, incremented per pixel and per row.
    const fix = (v: number) => Math.floor(v * 65536 + 0.5);
    const [f0, f1, f3, f4] = [fix(a0), fix(a1), fix(a3), fix(a4)];
    let rowX = fix(a2 + a0 * 0.5 + a1 * 0.5);
    let rowY = fix(a5 + a3 * 0.5 + a4 * 0.5);
    for (let y = 0; y < h; y++, rowX = (rowX + f1) | 0, rowY = (rowY + f4) | 0) {
      let xx = rowX;
      let yy = rowY;
      for (let x = 0; x < w; x++, xx = (xx + f0) | 0, yy = (yy + f3) | 0) {
        const sx = xx >> 16;
        const sy = yy >> 16;
        if (sx >= 0 && sx < w && sy >= 0 && sy < h) put(x, y, sx, sy);
      }
    }
    return { ...img, data: out };
  }
  // PIL's floating-point fallback for coordinates beyond 16.16.
  let xo = a2 + a1 * 0.5 + a0 * 0.5;
  let yo = a5 + a4 * 0.5 + a3 * 0.5;
  for (let y = 0; y < h; y++, xo += a1, yo += a4) {
    let xx = xo;
    let yy = yo;
    for (let x = 0; x < w; x++, xx += a0, yy += a3) {
      const sx = coord(xx);
      const sy = coord(yy);
      if (sx >= 0 && sx < w && sy >= 0 && sy < h) put(x, y, sx, sy);
    }
  }
  return { ...img, data: out };
}

// ---- colour: ImageEnhance's degenerate images and Image.blend ----

/** Image.blend(degenerate, img, factor): float32 arithmetic, truncated; clipped when extrapolating. */
function blend(degenerate: Uint8Array, img: RawImage, factor: number): RawImage {
  const f = Math.fround;
  const alpha = f(factor);
  if (alpha === 0) return { ...img, data: degenerate };
  if (alpha === 1) return img;
  const [a, b] = [degenerate, img.data];
  const out = new Uint8Array(b.length);
  for (let i = 0; i < out.length; i++) {
    const v = f(a[i]! + f(alpha * (b[i]! - a[i]!)));
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
  }
  return { ...img, data: out };
}

/** convert('L'): ITU-R 601-2 luma in PIL's 16-bit fixed point. */
function luma(img: RawImage): Uint8Array {
  if (img.channels === 1) return img.data;
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++) out[i] = (d[3 * i]! * 19595 + d[3 * i + 1]! * 38470 + d[3 * i + 2]! * 7471 + 0x8000) >> 16;
  return out;
}

/** convert(mode) of an L image: grey repeated in each channel. */
function fromLuma(l: Uint8Array, channels: number): Uint8Array {
  if (channels === 1) return l;
  const out = new Uint8Array(l.length * 3);
  for (let i = 0; i < l.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = l[i]!;
  return out;
}

/** ImageEnhance.Contrast's grey level: int(ImageStat mean + 0.5). */
function meanLevel(l: Uint8Array): number {
  let sum = 0;
  for (const v of l) sum += v;
  return Math.trunc(sum / l.length + 0.5);
}

/** ImageFilter.SMOOTH (3×3, 1 1 1 / 1 5 1 / 1 1 1, ÷13) as PIL's float32 ImagingFilter3x3: the border is copied. */
function smooth(img: RawImage): Uint8Array {
  const f = Math.fround;
  const { width: w, height: h, channels: ch } = img;
  if (w < 3 || h < 3) return img.data;
  const [k1, k5] = [f(1 / 13), f(5 / 13)];
  const kernel = [k1, k1, k1, k1, k5, k1, k1, k1, k1];
  const src = img.data;
  const out = Uint8Array.from(src);
  const px = (x: number, y: number, c: number) => src[(y * w + x) * ch + c]!;
  for (let y = 1; y < h - 1; y++)
    for (let x = 1; x < w - 1; x++)
      for (let c = 0; c < ch; c++) {
        // Rows y+1, y, y−1 in PIL's order, each (left·k + centre·k) + right·k.
        let ss = f(0.5);
        for (let r = 0; r < 3; r++) {
          const yy = y + 1 - r;
          const row = f(f(f(px(x - 1, yy, c) * kernel[3 * r]!) + f(px(x, yy, c) * kernel[3 * r + 1]!)) + f(px(x + 1, yy, c) * kernel[3 * r + 2]!));
          ss = f(ss + row);
        }
        out[(y * w + x) * ch + c] = ss <= 0 ? 0 : ss >= 255 ? 255 : Math.trunc(ss);
      }
  return out;
}

// ---- lookup tables: ImageOps ----

/** Image.point with a table per channel, made from that channel's histogram (ImageOps._lut). */
function lookUp(img: RawImage, table: (histogram: number[]) => number[]): RawImage {
  const { channels: ch, data } = img;
  const out = new Uint8Array(data.length);
  for (let c = 0; c < ch; c++) {
    const histogram = new Array<number>(256).fill(0);
    for (let i = c; i < data.length; i += ch) histogram[data[i]!]!++;
    // Image.point clips the table's entries to 0…255 (equalize's can exceed 255).
    const lut = table(histogram).map((v) => Math.min(255, Math.max(0, v)));
    for (let i = c; i < data.length; i += ch) out[i] = lut[data[i]!]!;
  }
  return { ...img, data: out };
}

const identityTable = () => Array.from({ length: 256 }, (_, i) => i);

/** ImageOps.autocontrast (no cutoff): the darkest level to 0, the lightest to 255. */
function autoContrastTable(h: number[]): number[] {
  const lo = h.findIndex((n) => n > 0);
  let hi = 255;
  while (hi > 0 && h[hi] === 0) hi--;
  if (hi <= lo) return identityTable();
  const scale = 255 / (hi - lo);
  const offset = -lo * scale;
  return Array.from({ length: 256 }, (_, i) => Math.min(255, Math.max(0, Math.trunc(i * scale + offset))));
}

/** ImageOps.equalize: integer arithmetic on the histogram. */
function equalizeTable(h: number[]): number[] {
  const used = h.filter((n) => n > 0);
  if (used.length <= 1) return identityTable();
  const step = Math.floor((used.reduce((s, n) => s + n, 0) - used.at(-1)!) / 255);
  if (step === 0) return identityTable();
  let n = Math.floor(step / 2);
  return h.map((count) => {
    const v = Math.floor(n / step);
    n += count;
    return v;
  });
}
