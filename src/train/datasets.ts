// The data sets a run can name by name (--data NAME) instead of a folder, as MODELS names models:
// each registers where its images come from and the recipe defaults that fit it, and no other file
// names one. Beside them, the recipe's vocabulary their defaults speak (recipe.ts builds recipes
// from it): the augmentations, the normalisations, a training set's statistics.
import type * as data from '../data/index.js';
import { fashionMnist } from '../data/index.js';
import { BadInputError } from '../engine/index.js';
import { Registry } from './registry.js';

export const AUGMENTATIONS = ['auto', 'none', 'flip', 'crop-flip', 'imagenet', 'randaugment', 'trivialaugment'] as const;
export const NORMALIZATIONS = ['auto', 'imagenet', 'dataset', 'none'] as const;
export type Augmentation = Exclude<(typeof AUGMENTATIONS)[number], 'auto'>;
export type Normalization = Exclude<(typeof NORMALIZATIONS)[number], 'auto'>;

/** Per-channel mean and std of a training set's pixels in [0, 1], and whether every image is grey. */
export interface DatasetStatistics {
  mean: number[];
  std: number[];
  grey: boolean;
  images: number;
}

export interface DatasetEntry {
  /** What it is, in the log's words ("Fashion-MNIST (its 60,000 training images, …)"). */
  description: string;
  /** Its labelled training images. */
  train(): data.SampleList;
  /** Its held-out test images, when it has them: `--data NAME-test` in eval and predict. */
  test?(): data.SampleList;
  /** The side of every image: a small-image model takes them as they are. */
  side: number;
  /** The training set's statistics, known without a pass over the images. */
  statistics: DatasetStatistics;
  /** What 'auto' means for it. */
  recipe: {
    /** --augment auto, for a small-image (CIFAR-style) model and for the others. */
    augment: { smallModel: Augmentation; otherModels: Augmentation };
    /** --normalize auto (pretrained weights still get ImageNet's). */
    normalize: Normalization;
    /** crop-flip's padding, in pixels, at the data's own side. */
    cropPadding: number;
  };
}

export const DATASETS = new Registry<DatasetEntry>('--data');

/** The registered data set `--data` names, or null for a folder or CSV. */
export const registeredDataset = (name: string): DatasetEntry | null => (DATASETS.has(name) ? DATASETS.get(name) : null);

/**
 * `--data NAME-test` (eval, predict): a registered data set's own held-out test images, for a run
 * trained on that data set (which validates on a split of its training images); null when `value`
 * names no such test set.
 */
export function registeredTestSet(value: string, trainedOn: string): data.SampleList | null {
  const name = /^(.+)-test$/.exec(value)?.[1];
  const entry = name === undefined ? null : registeredDataset(name);
  if (!entry?.test) return null;
  if (trainedOn !== name) throw new BadInputError(`--data ${value}: the run was trained on ${trainedOn}, not ${name}`);
  return entry.test();
}

/** The data a run trains on without --data: the demo's. */
export const DEFAULT_DATASET = 'fashion-mnist';

DATASETS.register(DEFAULT_DATASET, {
  description: "Fashion-MNIST (its 60,000 training images, from Debian's dataset-fashion-mnist)",
  train: () => fashionMnist('train'),
  test: () => fashionMnist('t10k'),
  side: 28,
  // Its own statistics over the 60,000 training images.
  statistics: { mean: [0.286], std: [0.353], grey: true, images: 60000 },
  // The demo's recipe since lsr's first: padding-crop and flip at 28 px for a CIFAR ResNet, a flip for an upscaled ImageNet one.
  recipe: { augment: { smallModel: 'crop-flip', otherModels: 'flip' }, normalize: 'dataset', cropPadding: 2 },
});
