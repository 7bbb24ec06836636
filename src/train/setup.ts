// What a run is made of, from its configuration: the data (sources, split, noise, the recipe) and
// the model (architecture, pretrained weights, a head for this data's classes).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as data from '../data/index.js';
import { BadInputError } from '../engine/index.js';
import { loadWeights } from '../io/index.js';
import type { Classifier } from '../models/index.js';
import type { TrainConfig } from './config.js';
import { DATASETS, registeredDataset } from './datasets.js';
import {
  type DatasetStatistics,
  type Recipe,
  checkCropPadding,
  datasetStatistics,
  imageSizeWithoutImages,
  needsStatistics,
  recipeFor,
  resolveImageSize,
} from './recipe.js';
import { MODELS } from './registry.js';

type SampleList = data.SampleList;

/** A run's data: the class vocabulary, the training and validation sets, and the recipe their images get. */
export interface RunData {
  vocab: data.ClassVocabulary;
  train: SampleList;
  val: SampleList;
  trainPipeline: data.Pipeline;
  evalPipeline: data.Pipeline;
  recipe: Recipe;
  /** The training set's statistics, when the recipe normalises by them. */
  statistics: DatasetStatistics | null;
  /** The side of the images the model sees (--image-size, resolved when it was 0, auto). */
  imageSize: number;
}

/** The data side of a run before its recipe: the vocabulary, the split, and images listed but missing. */
export interface SplitData {
  vocab: data.ClassVocabulary;
  train: SampleList;
  val: SampleList;
  missing: string[];
}

/** The full labeled dataset a --data value names: a registered data set (DATASETS), a CSV (or a folder with train.csv), or a folder per class. */
export function loadDataset(
  source: string,
  o: { skipBadImages?: boolean; vocab?: data.ClassVocabulary; allowOutside?: boolean } = {},
): { dataset: SampleList; missing: string[] } {
  const registered = registeredDataset(source);
  if (registered) return { dataset: registered.train(), missing: [] };
  if (!existsSync(source))
    throw new BadInputError(
      `--data ${source}: no such file or folder (a folder with train.csv or a folder per class, a CSV, or one of ${DATASETS.names.join(', ')})`,
    );
  const csv = source.endsWith('.csv') ? source : join(source, 'train.csv');
  if (existsSync(csv)) return data.readImageCsv(csv, { labeled: true, vocab: o.vocab, skipMissing: o.skipBadImages, allowOutside: o.allowOutside });
  return { dataset: data.readImageFolder(source, { vocab: o.vocab }), missing: [] };
}

/**
 * Split (stratified, seeded), limited per class, labels noised: the data of a run, before its
 * recipe. A run of --folds K trains on every fold but its own (foldData).
 */
export function splitData(c: TrainConfig): SplitData {
  if (c.folds >= 2) return foldData(foldPlan(c), c.fold);
  const { dataset, missing } = loadDataset(c.data, { skipBadImages: c.skipBadImages, allowOutside: c.allowOutsidePaths });
  const split = data.stratifiedSplit(dataset.labels(), c.valFraction, c.seed);
  // A class with labelled images must keep some for training.
  const trainCounts = new Array<number>(dataset.vocab.size).fill(0);
  for (const i of split.train) trainCounts[dataset.sample(i).label]!++;
  const inVal = new Set(split.val.map((i) => dataset.sample(i).label));
  const empty = trainCounts.flatMap((n, k) => (n === 0 && inVal.has(k) ? [dataset.vocab.label(k)] : []));
  if (split.train.length === 0)
    throw new BadInputError(`--val-fraction ${c.valFraction} leaves no training image (${dataset.length} labelled images in ${c.data})`);
  if (empty.length)
    throw new BadInputError(
      `--val-fraction ${c.valFraction} leaves no training image of class${empty.length > 1 ? 'es' : ''} ${empty
        .slice(0, 5)
        .map((l) => JSON.stringify(l))
        .join(
          ', ',
        )}${empty.length > 5 ? `, … (${empty.length} in all)` : ''} in ${c.data}: a lower fraction, or more images of ${empty.length > 1 ? 'them' : 'it'}`,
    );
  let trainIdx = split.train;
  if (c.limitPerClass > 0) {
    const labels = trainIdx.map((i) => dataset.sample(i).label);
    trainIdx = data.perClassSubset(labels, c.limitPerClass, c.seed).map((k) => trainIdx[k]!);
  }
  let train = dataset.subset(trainIdx);
  if (c.labelNoise > 0) train = withLabelNoise(train, c.labelNoise, c.seed);
  let valIdx = split.val;
  // By default a limited run keeps the split's proportions; --val-limit-per-class sets it apart
  // (a larger validation set measures a small run's accuracy with less sampling noise).
  const valLimit =
    c.valLimitPerClass > 0 ? c.valLimitPerClass : c.limitPerClass > 0 ? Math.max(1, Math.ceil((c.limitPerClass * c.valFraction) / (1 - c.valFraction))) : 0;
  if (valLimit > 0) {
    const labels = valIdx.map((i) => dataset.sample(i).label);
    valIdx = data.perClassSubset(labels, valLimit, c.seed).map((k) => valIdx[k]!);
  }
  return { vocab: dataset.vocab, train, val: dataset.subset(valIdx), missing };
}

// ---- K-fold cross-validation (--folds K): the labelled pool, its given labels and its folds, decided
// once from the data and the seed alone, so that every fold's run and every ε of a comparison see
// the same folds and the same given labels. A fold's run is an ordinary run whose validation set is
// its fold: splitData(config) gives it, so eval and predict read it back unchanged.
/** The images a K-fold cross-validation deals into folds, and the labels they carry. */
export interface FoldPlan {
  /** The full labelled set with the labels as given to training: --label-noise applied once, keyed by each image's index in this set. */
  dataset: data.SampleList;
  /** Each image's label before --label-noise, by its index in `dataset`. */
  original: number[];
  /** The dataset indices cross-validated, ascending: every labelled image, or --limit-per-class of each class. */
  pool: number[];
  /** The fold (0 … K−1) of each pool image, by its position in `pool`. */
  fold: number[];
  folds: number;
  /** Images the CSV lists that are not there (--skip-bad-images). */
  missing: string[];
}

/**
 * The folds of `c` (c.folds ≥ 2). The noise comes first and is keyed by the image's index in the
 * full set: every fold's training and held-out images carry the same given labels, and which images
 * were flipped does not depend on the fold, the pool or ε. The pool (--limit-per-class caps it) and
 * the folds are stratified by the given labels, the only ones a user with noisy data has.
 */
export function foldPlan(c: TrainConfig): FoldPlan {
  if (c.folds < 2) throw new BadInputError(`--folds ${c.folds}: cross-validation needs at least 2 folds`);
  const { dataset: clean, missing } = loadDataset(c.data, { skipBadImages: c.skipBadImages, allowOutside: c.allowOutsidePaths });
  const original = clean.labels();
  const dataset = c.labelNoise > 0 ? withLabelNoise(clean, c.labelNoise, c.seed) : clean;
  const given = dataset.labels();
  const pool = c.limitPerClass > 0 ? data.perClassSubset(given, c.limitPerClass, c.seed) : given.map((_, i) => i);
  const poolLabels = pool.map((i) => given[i]!);
  refuseSmallClasses(c, dataset.vocab, poolLabels);
  return { dataset, original, pool, fold: data.kFold(poolLabels, c.folds, c.seed), folds: c.folds, missing };
}

/** Every class must have an image in every fold, so that each fold's validation measures every class the run trains. */
function refuseSmallClasses(c: TrainConfig, vocab: data.ClassVocabulary, labels: readonly number[]): void {
  const counts = new Map<number, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  const [smallest, n] = [...counts].reduce((a, b) => (b[1] < a[1] ? b : a));
  if (n < c.folds)
    throw new BadInputError(
      `--folds ${c.folds} is more than the ${n} image${n === 1 ? '' : 's'} of class ${JSON.stringify(vocab.label(smallest))}${c.limitPerClass > 0 ? ` (with --limit-per-class ${c.limitPerClass})` : ''} in ${c.data}: every fold must hold out an image of each class; give --folds ${Math.max(2, n)} or less${n < 2 ? ', or more images of it' : ''}`,
    );
}

/** Run `k`'s data: training on every pool image outside fold k, validating on fold k, both with the given labels. */
export function foldData(plan: FoldPlan, k: number): SplitData {
  if (!(Number.isInteger(k) && k >= 0 && k < plan.folds)) throw new BadInputError(`--fold ${k} must be one of 0 … ${plan.folds - 1} (--folds ${plan.folds})`);
  const train = plan.pool.filter((_, j) => plan.fold[j] !== k);
  const val = plan.pool.filter((_, j) => plan.fold[j] === k);
  return { vocab: plan.dataset.vocab, train: plan.dataset.subset(train), val: plan.dataset.subset(val), missing: plan.missing };
}

/** The dataset indices fold k holds out, ascending (the rows of its validation set, in order). */
export function heldOut(plan: FoldPlan, k: number): number[] {
  return plan.pool.filter((_, j) => plan.fold[j] === k);
}

/** A run's data with a recipe that needs no statistics of the data (prepareRun reads them when it does). */
export function prepareData(c: TrainConfig): RunData & { missing: string[] } {
  const imageSize = imageSizeWithoutImages(c);
  if (needsStatistics(c) || imageSize === null)
    throw new BadInputError(
      `${imageSize === null ? `--image-size 0 (auto) with --model ${c.model} takes the images' own side` : `--normalize ${c.normalize} for ${c.data} normalises by the training set's own statistics`}, which are read asynchronously: use prepareRun(config) or Trainer.create(config)`,
    );
  return withRecipe(splitData(c), recipeFor({ ...c, imageSize }), null, imageSize);
}

/** A run's data and its recipe, reading the images' size (--image-size 0) and the training set's statistics first when the recipe needs them. */
export async function prepareRun(c: TrainConfig): Promise<RunData & { missing: string[] }> {
  const split = c.skipBadImages ? await withoutUnreadable(splitData(c), c.workers) : splitData(c);
  const imageSize = await resolveImageSize(c, split.train);
  const sized = { ...c, imageSize };
  checkCropPadding(sized, imageSize);
  const statistics = needsStatistics(sized) ? await datasetStatistics(split.train, imageSize, { workers: c.workers, skipBadImages: c.skipBadImages }) : null;
  return withRecipe(split, recipeFor(sized, statistics), statistics, imageSize);
}

/**
 * A batch larger than the training set is refused, before any image is read. It is not a larger
 * batch: every step would be one batch of the whole set (PyTorch's DataLoader gives the same),
 * while everything scaled by the batch (the automatic --lr: 0.1 × 100000/256 ≈ 39) would be scaled
 * for the batch asked for, and a run that diverges like this exits 0. The explicit way to ask for
 * the whole set each step is --batch-size equal to it, which the message gives. The Trainer checks
 * (preparing data for other uses, a recipe's statistics, is not training).
 */
export function checkBatchFits(c: TrainConfig, split: Pick<SplitData, 'train' | 'val'>): void {
  const n = split.train.length;
  if (c.batchSize <= n) return;
  const after = c.valFraction > 0 ? ` after the validation split (${split.val.length} held out)` : '';
  throw new BadInputError(
    `--batch-size ${c.batchSize} is larger than the training set: ${n} image${n === 1 ? '' : 's'}${after}${c.limitPerClass > 0 ? ` and --limit-per-class ${c.limitPerClass}` : ''}. ` +
      `Each step would be one batch of those ${n}, trained with a rate scaled for ${c.batchSize} (the automatic --lr grows with the batch); ` +
      `give --batch-size ${n} or less (${n}: the whole set each step)`,
  );
}

/**
 * --skip-bad-images: the training and validation images that cannot be read, found by decoding
 * every one before training and left out of both sets, so that every epoch (and every rank of a
 * data-parallel run, which all find the same ones) sees the same images and the same number of
 * batches; a batch the loader shortened while training would desynchronise the ranks' steps.
 * They join `missing`, which the run writes to bad-images.txt.
 */
export async function withoutUnreadable(split: SplitData, workers: number): Promise<SplitData> {
  const missing = [...split.missing];
  const readable = async (set: SampleList): Promise<SampleList> => {
    const loader = new data.DataLoader(set, {
      batchSize: 64,
      // Decoded, then shrunk to one pixel: the decode is the test, the rest is cheap.
      pipeline: { transforms: [{ op: 'resize', size: [1, 1] }], channels: 3, mean: [0, 0, 0], std: [1, 1, 1] },
      workers,
      skipBadImages: true,
    });
    const kept = new Set<number>();
    try {
      for await (const b of loader.epoch(0)) {
        for (const i of b.indices) kept.add(i);
        b.dispose();
      }
    } finally {
      await loader.close();
    }
    missing.push(...loader.badImages);
    if (kept.size === set.length) return set;
    return set.subset([...Array(set.length).keys()].filter((i) => kept.has(i)));
  };
  const train = await readable(split.train);
  const val = await readable(split.val);
  if (train.length === 0) throw new BadInputError('--skip-bad-images: no training image can be read');
  return { ...split, train, val, missing };
}

const withRecipe = (split: SplitData, recipe: Recipe, statistics: DatasetStatistics | null, imageSize: number) => ({
  ...split,
  trainPipeline: recipe.train,
  evalPipeline: recipe.eval,
  recipe,
  statistics,
  imageSize,
});

/** Symmetric label noise: each label, with probability p, becomes a uniformly drawn other class. */
export function withLabelNoise(ds: SampleList, p: number, seed: number): SampleList {
  const classes = ds.vocab.size;
  const samples = ds.samples.map((s, i) => {
    const rng = new data.Rng(seed, 0x4015e, i);
    if (!(rng.random() < p)) return s;
    const other = rng.int(0, classes - 1);
    return { ...s, label: other >= s.label ? other + 1 : other };
  });
  return new data.SampleList(samples, ds.vocab);
}

/**
 * The model for a config and class count. Pretrained weights load strictly, except a classifier
 * head of another class count, which is replaced (fine-tuning); anything else that does not fit
 * is an error before training starts.
 */
export function buildModel(c: TrainConfig, numClasses: number, inChannels: number): Classifier {
  const model = MODELS.get(c.model).build({ numClasses, inChannels });
  if (c.weights) loadInto(model, c.weights, numClasses);
  return model;
}

function loadInto(model: Classifier, file: string, numClasses: number): void {
  const sd = loadWeights(file);
  try {
    const head = sd.get('fc.weight');
    if (head && head.shape[0] !== numClasses) {
      // A head for another label set (ImageNet's 1000 classes): keep the backbone, train a new head.
      for (const k of [...sd.keys()]) if (k.startsWith('fc.')) sd.delete(k);
      const { missingKeys, unexpectedKeys } = model.loadStateDict(sd, { strict: false });
      const misfit = [...missingKeys.filter((k) => !k.startsWith('fc.')), ...unexpectedKeys];
      if (misfit.length) throw new Error(`--weights ${file} does not fit --model: ${misfit.slice(0, 5).join(', ')}${misfit.length > 5 ? ', …' : ''}`);
    } else {
      try {
        model.loadStateDict(sd);
      } catch (e) {
        throw new Error(`--weights ${file} does not fit the model: ${(e as Error).message}`);
      }
    }
  } finally {
    for (const t of sd.values()) t.dispose();
  }
}
