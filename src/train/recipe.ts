// A run's data recipe: the augmentation and normalisation its images get. `auto` fits the data, as
// a plain PyTorch script for that data would: small images (≤ 64 px, or a CIFAR-style model) get
// padding-crop and flip and the training set's own mean and std; large ones torchvision's ImageNet
// recipe; pretrained weights ImageNet's normalisation. The run writes the recipe in full to
// recipe.json; evaluation reads it back.
import * as data from '../data/index.js';
import { BadInputError, tidy } from '../engine/index.js';
import { type Augmentation, type DatasetStatistics, type Normalization, registeredDataset } from './datasets.js';
import { MODELS } from './registry.js';

export { AUGMENTATIONS, NORMALIZATIONS } from './datasets.js';
export type { Augmentation, DatasetStatistics, Normalization } from './datasets.js';

/** The options a recipe is made from: a TrainConfig's, and only those it reads. */
export interface RecipeOptions {
  /** A registered data set's name, or a folder or CSV. */
  data: string;
  model: string;
  imageSize: number;
  augment: string;
  normalize: string;
  weights: string | null;
  cropPadding: number;
  rrcScale: number;
  skipBadImages: boolean;
}

export interface Recipe {
  train: data.Pipeline;
  eval: data.Pipeline;
  /** The recipe in words: the run's log, the report's setting. */
  description: string;
}

const isSmall = (c: RecipeOptions) => MODELS.get(c.model).smallImages === true || (c.imageSize > 0 && c.imageSize <= 64);

/** The images a small-image model trains on at their own side, up to this many pixels (CIFAR's 32, STL's 64). */
const SMALL_SIDE_LIMIT = 64;

/**
 * --image-size 0 (auto) without reading images, where that is possible: a registered data set's
 * own side (Fashion-MNIST's 28) on a CIFAR-style model, 224 for other models; null when the
 * images' own size decides (a CIFAR-style model on a user's images: resolveImageSize reads them).
 */
export function imageSizeWithoutImages(c: RecipeOptions): number | null {
  if (c.imageSize > 0) return c.imageSize;
  if (!MODELS.get(c.model).smallImages) return 224;
  return registeredDataset(c.data)?.side ?? null;
}

/**
 * --image-size 0 (auto): a CIFAR-style model sees the training images at their own side (the
 * largest among the first 64 read) when that is at most 64 px, and at 32 otherwise; other models
 * see 224, torchvision's. A plain PyTorch script for small images does not resize them.
 */
export async function resolveImageSize(c: RecipeOptions, train: data.SampleList): Promise<number> {
  const known = imageSizeWithoutImages(c);
  if (known !== null) return known;
  let side = 0;
  for (let i = 0; i < Math.min(train.length, 64); i++) {
    try {
      const img = await data.decode(train.sample(i).source);
      side = Math.max(side, img.width, img.height);
    } catch (e) {
      if (!c.skipBadImages) throw e;
    }
  }
  return side > 0 && side <= SMALL_SIDE_LIMIT ? side : 32;
}

export function resolveAugmentation(c: RecipeOptions): Augmentation {
  if (c.augment !== 'auto') return c.augment as Augmentation;
  const registered = registeredDataset(c.data)?.recipe.augment;
  if (registered) return MODELS.get(c.model).smallImages ? registered.smallModel : registered.otherModels;
  return isSmall(c) ? 'crop-flip' : 'imagenet';
}

export function resolveNormalization(c: RecipeOptions): Normalization {
  if (c.normalize !== 'auto') return c.normalize as Normalization;
  if (c.weights) return 'imagenet';
  return registeredDataset(c.data)?.recipe.normalize ?? (isSmall(c) ? 'dataset' : 'imagenet');
}

/** Whether the recipe needs the training set's statistics (read once, before training; a registered data set's are known). */
export function needsStatistics(c: RecipeOptions): boolean {
  return registeredDataset(c.data) === null && resolveNormalization(c) === 'dataset';
}

/** The padding of crop-flip: --crop-padding, a registered data set's (Fashion-MNIST's 2 px at 28, the demo's), or an eighth of the side (4 px at 32, CIFAR's). */
function cropPadding(c: RecipeOptions, side: number): number {
  if (c.cropPadding > 0) return c.cropPadding;
  return registeredDataset(c.data)?.recipe.cropPadding ?? Math.max(1, Math.round(side / 8));
}

/**
 * --crop-padding must be less than the side the images are cropped at: with a padding of the side
 * or more, some crops miss the image entirely and training sees blanks. `side`: the resolved
 * --image-size (prepareRun checks before reading the data's statistics, recipeFor always).
 */
export function checkCropPadding(c: RecipeOptions, side: number): void {
  if (c.cropPadding < side) return;
  throw new BadInputError(
    `--crop-padding ${c.cropPadding} must be less than the side of the images the model sees, ${side} px: a crop of the padded image would often hold no image at all`,
  );
}

/**
 * The recipe of a config. `stats`: the training set's statistics, needed when the normalisation
 * is the data's own (needsStatistics); a registered data set's are known.
 */
export function recipeFor(c: RecipeOptions, stats: DatasetStatistics | null = null): Recipe {
  const small = MODELS.get(c.model).smallImages === true;
  const registered = registeredDataset(c.data);
  if (registered && stats === null) stats = registered.statistics;
  const augment = resolveAugmentation(c);
  const normalize = resolveNormalization(c);
  if (normalize === 'dataset' && !stats)
    throw new BadInputError("--normalize dataset needs the training set's statistics (Trainer.create or prepareRun reads them)");
  // Grey images train with one channel, unless the model (or its weights) needs three.
  const channels: 1 | 3 = stats?.grey && small && !c.weights ? 1 : 3;
  const fit = (v: number[]) => (channels === 1 ? [v.reduce((a, b) => a + b, 0) / v.length] : v.length === 1 ? [v[0]!, v[0]!, v[0]!] : v);
  const norm =
    normalize === 'imagenet'
      ? { mean: fit(data.IMAGENET_MEAN), std: fit(data.IMAGENET_STD) }
      : normalize === 'dataset'
        ? { mean: fit(stats!.mean), std: fit(stats!.std) }
        : { mean: fit([0]), std: fit([1]) };
  // A registered data set's images (Fashion-MNIST's 28 px) go to a small model as they are.
  const asTheyAre = registered !== null && small;
  const side = asTheyAre ? registered.side : imageSizeWithoutImages(c);
  if (side === null)
    throw new BadInputError(`--image-size 0 (auto) with --model ${c.model} takes the images' own side: resolve it first (resolveImageSize; prepareRun does)`);
  const resize: data.Transform[] = asTheyAre ? [] : [{ op: 'resize', size: [side, side] }];
  const pad = cropPadding(c, side);
  // RandAugment and TrivialAugmentWide come after the crop and flip the images would get anyway
  // (crop-flip for small images, RandomResizedCrop for large), as timm's and torchvision's
  // classification references place them; their parameters are written out for recipe.json.
  const policy: data.Transform | null =
    augment === 'randaugment'
      ? { op: 'randaugment', numOps: 2, magnitude: 9, numMagnitudeBins: 31 }
      : augment === 'trivialaugment'
        ? { op: 'trivialaugment', numMagnitudeBins: 31 }
        : null;
  const base = policy === null ? augment : isSmall(c) ? 'crop-flip' : 'imagenet';
  checkCropPadding(c, side);
  const train: data.Transform[] =
    base === 'none'
      ? [...resize]
      : base === 'flip'
        ? [...resize, { op: 'hflip' }]
        : base === 'crop-flip'
          ? [...resize, { op: 'randomCrop', size: side, padding: pad }, { op: 'hflip' }]
          : [{ op: 'randomResizedCrop', size: side, scale: [c.rrcScale, 1] }, { op: 'hflip' }];
  if (policy) train.push(policy);
  // Evaluation keeps the whole image, except after RandomResizedCrop (torchvision's resize and centre crop).
  const evalTransforms: data.Transform[] =
    base === 'imagenet'
      ? [
          { op: 'resize', size: Math.round((side * 256) / 224) },
          { op: 'centerCrop', size: side },
        ]
      : resize;
  const cropFlipWhat = `${resize.length ? `resize to ${side}×${side}, ` : ''}random ${side}×${side} crop after ${pad} px zero padding, random horizontal flip`;
  const rrcWhat = `RandomResizedCrop ${side}×${side} (scale ${c.rrcScale}–1), random horizontal flip`;
  const evalWhat = `evaluation: resize to ${Math.round((side * 256) / 224)}, centre crop ${side}`;
  const withPolicy = (words: string) => (base === 'crop-flip' ? `${cropFlipWhat}, ${words}` : `${rrcWhat}, ${words}; ${evalWhat}`);
  const what = {
    none: `resize to ${side}×${side}, no augmentation`,
    flip: `resize to ${side}×${side}, random horizontal flip`,
    'crop-flip': cropFlipWhat,
    imagenet: `${rrcWhat}; ${evalWhat}`,
    randaugment: withPolicy("torchvision's RandAugment (2 ops at magnitude 9 of 31)"),
    trivialaugment: withPolicy("torchvision's TrivialAugmentWide (1 op, magnitude drawn from 31 bins)"),
  }[augment];
  const round = (v: number[]) => v.map((x) => Number(x.toFixed(4))).join(', ');
  const normWhat = {
    imagenet: "ImageNet's mean and std",
    dataset: `the training set's own mean (${round(norm.mean)}) and std (${round(norm.std)})`,
    none: 'no normalisation (pixels in [0, 1])',
  }[normalize];
  const description =
    `${augment}${c.augment === 'auto' ? ' (auto)' : ''}: ${what}; ${normWhat}${c.normalize === 'auto' ? ' (auto)' : ''}; ` +
    `${channels} input channel${channels > 1 ? 's' : ''}${channels === 1 ? ' (grey images)' : ''}`;
  return { train: { transforms: train, channels, ...norm }, eval: { transforms: evalTransforms, channels, ...norm }, description };
}

/**
 * A training set's per-channel pixel mean and std at the run's image size (before augmentation),
 * and whether every image is grey: one pass, in the loader's worker threads.
 */
export async function datasetStatistics(set: data.SampleList, side: number, o: { workers: number; skipBadImages: boolean }): Promise<DatasetStatistics> {
  const loader = new data.DataLoader(set, {
    batchSize: 256,
    pipeline: { transforms: [{ op: 'resize', size: [side, side] }], channels: 3, mean: [0, 0, 0], std: [1, 1, 1] },
    workers: o.workers,
    skipBadImages: o.skipBadImages,
  });
  const sum = [0, 0, 0];
  const squares = [0, 0, 0];
  let pixels = 0;
  let images = 0;
  let grey = true;
  try {
    for await (const b of loader.epoch(0)) {
      tidy(() => {
        const x = b.x.to('float64');
        const s = x.sum([0, 2, 3]).toFlatArray();
        const q = x.mul(x).sum([0, 2, 3]).toFlatArray();
        for (let k = 0; k < 3; k++) {
          sum[k]! += s[k]!;
          squares[k]! += q[k]!;
        }
        if (grey)
          grey =
            x
              .narrow(1, 0, 1)
              .eq(x.narrow(1, 1, 1))
              .all()
              .item() === 1 &&
            x
              .narrow(1, 1, 1)
              .eq(x.narrow(1, 2, 1))
              .all()
              .item() === 1;
      });
      pixels += b.x.shape[0]! * side * side;
      images += b.x.shape[0]!;
      b.dispose();
    }
  } finally {
    await loader.close();
  }
  if (images === 0) throw new BadInputError('--normalize dataset: no training image could be read');
  const mean = sum.map((s) => s / pixels);
  const std = squares.map((q, k) => Math.sqrt(Math.max(q / pixels - mean[k]! ** 2, 1e-12)));
  return { mean, std, grey, images };
}
