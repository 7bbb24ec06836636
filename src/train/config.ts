// A training run's configuration: defaults, what each option means, building one from option values
// and a JSON file (values win), and validation that names the option at fault before any work starts.
import { existsSync, readFileSync, statSync } from 'node:fs';
import {
  BadInputError,
  type NumberRange,
  type Precision,
  availableCores,
  describeRange,
  inRange,
  maxThreads,
  parseNumber,
  shownJson,
  THREADS_PER_CORE,
} from '../engine/index.js';
import { AUGMENTATIONS, DATASETS, DEFAULT_DATASET, NORMALIZATIONS } from './datasets.js';
import { LOSSES, MODELS, OPTIMIZERS, SCHEDULERS } from './registry.js';

export interface TrainConfig {
  /** A folder with train.csv (classify-leaves layout), an image folder per class, or 'fashion-mnist'. */
  data: string;
  /** A registered model (MODELS in registry.ts). */
  model: string;
  /** Pretrained weights (.pth or .safetensors); a head of another class count is replaced. */
  weights: string | null;
  /** fastai's fine_tune: the first N epochs train the classifier head alone (the pretrained body frozen, its BatchNorm statistics kept); 0: none. */
  freezeEpochs: number;
  smoothing: number;
  epochs: number;
  /** The global batch: a data-parallel run splits it evenly over its processes. */
  batchSize: number;
  lr: number;
  /** A registered optimizer: sgd, adamw, rmsprop (OPTIMIZERS in registry.ts). */
  optimizer: string;
  /** Per epoch: 'cosine' (CosineAnnealingLR over the epochs), 'step' (×0.1 every third of the epochs); per batch: 'onecycle' (PyTorch's OneCycleLR, peaking at --lr, momentum cycled 0.95 → 0.85 → 0.95). */
  scheduler: string;
  weightDecay: number;
  momentum: number;
  seed: number;
  /** The side of the square images the model sees; 0: auto (resolveImageSize in recipe.ts), recorded resolved in config.json. */
  imageSize: number;
  valFraction: number;
  /** K-fold cross-validation (stratified, seeded; 0: off): the run holds out fold `fold` of K for validation instead of a --val-fraction split. */
  folds: number;
  /** With --folds K: the fold (0 … K−1) this run holds out; crossValidate and compare set it for each run they start. */
  fold: number;
  workers: number;
  out: string;
  /** Use at most this many training images per class (0: all), for quick runs. */
  limitPerClass: number;
  /** Use at most this many validation images per class (0: in proportion to --limit-per-class, or all). */
  valLimitPerClass: number;
  /** Fraction of training labels replaced by a uniformly drawn other class (seeded). */
  labelNoise: number;
  skipBadImages: boolean;
  /** Intra-op threads (0: the cores this process may use). */
  threads: number;
  /** A registered loss (LOSSES in registry.ts): 'cross-entropy' (with --smoothing), or 'online-label-smoothing' (Zhang et al. 2021; --smoothing is its first epoch's ε). */
  loss: string;
  /** Online Label Smoothing's weight of the hard-label term. */
  olsAlpha: number;
  /** 'auto': bf16 autocast (the classifier head kept in fp32) and channels_last where the CPU computes bf16 natively, fp32 elsewhere. */
  precision: Precision;
  /** Where the model trains: auto (cuda:0 when libtorch sees a GPU, else cpu), cpu, cuda, cuda:N; config.json records the device used. */
  device: string;
  /** Data-parallel runs: BatchNorm statistics over every rank's batch (PyTorch's SyncBatchNorm) rather than each rank's own. */
  syncBn: boolean;
  /** Each batch as this many micro-batches whose gradients add up before the step: the same update in less memory (BatchNorm sees the micro-batches). */
  accumulate: number;
  /** Read CSV image paths that lead outside the dataset's folder (refused by default). */
  allowOutsidePaths: boolean;
  /** An exponential moving average of the weights (timm's ModelEmaV2) with this decay, validated and saved as the run's model (0: none). */
  ema: number;
  /**
   * The training augmentation: auto (fits the data), none, flip, crop-flip (padding crop and flip),
   * imagenet (torchvision's RandomResizedCrop and flip), randaugment / trivialaugment (torchvision's
   * RandAugment / TrivialAugmentWide after crop-flip for small images, after RandomResizedCrop and flip for large).
   */
  augment: string;
  /** The normalisation: auto, imagenet (ImageNet's mean/std), dataset (the training set's own, computed once), none. */
  normalize: string;
  /** RandomResizedCrop's smallest scale (the imagenet recipe); torchvision's 0.08. */
  rrcScale: number;
  /** crop-flip's zero padding in pixels (0: an eighth of the side; 2 for Fashion-MNIST). */
  cropPadding: number;
  /** Mixup's Beta(α, α) (Zhang et al. 2018, timm's semantics: each batch mixed with its reverse, --smoothing folded into the soft targets); 0: off. */
  mixup: number;
  /** CutMix's Beta(α, α) (Yun et al. 2019); 0: off. With --mixup too, each batch takes one of the two, half and half (timm's switch). */
  cutmix: number;
}

export const DEFAULTS: TrainConfig = {
  data: DEFAULT_DATASET,
  model: 'resnet20',
  weights: null,
  freezeEpochs: 0,
  smoothing: 0.1,
  epochs: 10,
  batchSize: 256,
  lr: 0,
  optimizer: 'sgd',
  scheduler: 'cosine',
  weightDecay: 5e-4,
  momentum: 0.9,
  seed: 0,
  imageSize: 0,
  valFraction: 0.1,
  folds: 0,
  fold: 0,
  // The machine's cores (a GPU machine's 16 keep its GPU fed), at most 16: decoding scales no further than the data's reads.
  workers: Math.min(16, availableCores()),
  out: 'runs/train',
  limitPerClass: 0,
  valLimitPerClass: 0,
  labelNoise: 0,
  skipBadImages: false,
  threads: 0,
  loss: 'cross-entropy',
  olsAlpha: 0.5,
  precision: 'auto',
  device: 'auto',
  syncBn: false,
  accumulate: 1,
  allowOutsidePaths: false,
  ema: 0,
  augment: 'auto',
  normalize: 'auto',
  rrcScale: 0.08,
  cropPadding: 0,
  mixup: 0,
  cutmix: 0,
};

/**
 * The largest --image-size: a 4096² RGB image is 200 MB as float32, already a batch's worth; a
 * side beyond it is a typo (100000² would be 120 GB an image, and fail in the decoder as if every
 * image were unreadable).
 */
export const MAX_IMAGE_SIZE = 4096;

/** What each option means and its value's placeholder: the command line's help and reference are made from it. */
/** shown: a default that depends on the machine, in words (the reference is the same everywhere). */
/** range: a number's accepted values, declared once here: the parser (coerce) and validate() check them. */
export const CONFIG_HELP: Record<keyof TrainConfig, { help: string; value?: string; shown?: string; range?: NumberRange }> = {
  data: { help: "a folder with train.csv (classify-leaves layout) or a folder per class, a CSV, or 'fashion-mnist'", value: 'DIR' },
  model: { help: `the architecture: ${MODELS.names.join(', ')}`, value: 'NAME' },
  weights: { help: 'pretrained weights (.pth or .safetensors); a head of another class count is replaced', value: 'FILE' },
  freezeEpochs: {
    help: "with --weights, the first N epochs train the head alone: the body frozen (no update, its BatchNorm statistics kept, no backward through it), then every layer (fastai's fine_tune)",
    value: 'N',
    range: { integer: true, min: 0, note: '0: none' },
  },
  smoothing: { help: 'label smoothing ε in [0, 1]', value: 'EPS', range: { min: 0, max: 1 } },
  epochs: { help: 'training epochs', value: 'N', range: { integer: true, min: 1 } },
  batchSize: { help: 'the global batch (split evenly among the processes of a data-parallel run)', value: 'N', range: { integer: true, min: 1 } },
  lr: {
    help: 'learning rate (the peak of onecycle); 0: auto — SGD 0.1 × batch/256 from scratch (Goyal et al. 2017), 0.01 × batch/256 fine-tuning --weights; AdamW and RMSprop 1e-3 (1e-4 fine-tuning)',
    value: 'LR',
    range: { min: 0, note: '0: auto' },
  },
  optimizer: { help: `${OPTIMIZERS.names.join(', ')} (--momentum is SGD's)`, value: 'NAME' },
  scheduler: { help: 'cosine, step (×0.1 every third of the epochs), onecycle (per batch) or none', value: 'NAME' },
  weightDecay: { help: 'weight decay', value: 'W', range: { min: 0 } },
  momentum: { help: "SGD's momentum", value: 'M', range: { min: 0, max: 1, maxOpen: true } },
  seed: { help: 'the seed of the initial weights, the split, the label noise and the batch order', value: 'N', range: { integer: true, min: 0 } },
  imageSize: {
    help: "the side of the square images the model sees (0: auto — a CIFAR-style model gets the images' own side up to 64 px, else 32; other models 224)",
    value: 'PX',
    range: { integer: true, min: 0, max: MAX_IMAGE_SIZE, note: '0: auto' },
  },
  valFraction: {
    help: 'the fraction of the labelled images held out for validation (stratified); 0 trains on all of them, without validation',
    value: 'F',
    range: { min: 0, max: 1, maxOpen: true },
  },
  folds: {
    help: 'K-fold cross-validation (stratified, seeded; replaces --val-fraction; --limit-per-class caps the images cross-validated): K runs in --out/fold-0 … fold-{K−1} (compare: in --out/smoothing-ε/ for each ε, paired by fold), each validated on the fold it holds out, then the out-of-fold probabilities of the best checkpoints (oof.csv), folds.json and the disputed labels (disputed.csv; with --label-noise, noise.json and their precision and recall); 0: off',
    value: 'K',
    range: { integer: true, min: 0, note: '0: off' },
  },
  fold: {
    help: 'with --folds K: the fold (0 … K−1) a run holds out; train --folds and compare --folds set it for each run (recorded in its config.json), and given, train trains that fold alone into --out',
    value: 'N',
    range: { integer: true, min: 0 },
  },
  workers: {
    help: 'image-decoding worker threads (0: decode on the training thread)',
    value: 'N',
    shown: 'the cores this process may use, at most 16',
    range: { integer: true, min: 0 },
  },
  out: { help: 'the folder the run writes', value: 'DIR' },
  limitPerClass: { help: 'use at most N training images per class (0: all)', value: 'N', range: { integer: true, min: 0 } },
  valLimitPerClass: { help: 'use at most N validation images per class (0: in proportion, or all)', value: 'N', range: { integer: true, min: 0 } },
  labelNoise: { help: 'the fraction of training labels replaced by another class (seeded)', value: 'P', range: { min: 0, max: 1, maxOpen: true } },
  skipBadImages: { help: 'skip unreadable images (listed in bad-images.txt) instead of stopping' },
  threads: {
    help: 'intra-op threads (0: the cores this process may use)',
    value: 'N',
    range: { integer: true, min: 0, note: '0: the cores this process may use' },
  },
  loss: { help: `${LOSSES.names.join(', ')} (online-label-smoothing: Zhang et al. 2021)`, value: 'NAME' },
  olsAlpha: { help: "Online Label Smoothing's weight of the hard-label term", value: 'A', range: { min: 0, max: 1 } },
  precision: {
    help: 'auto (bf16 autocast where the device computes bf16 natively: CPUs with AVX512-BF16 or AMX, CUDA compute capability ≥ 8.0), fp32, bf16 or fp64',
    value: 'P',
  },
  device: { help: 'auto (the first CUDA device when libtorch sees one, else cpu), cpu, cuda or cuda:N', value: 'DEV' },
  syncBn: { help: "data-parallel runs: BatchNorm statistics over every rank's batch (SyncBatchNorm)" },
  allowOutsidePaths: { help: "read CSV image paths that lead outside the CSV's folder (../, absolute), refused otherwise" },
  accumulate: {
    help: 'each batch as N micro-batches whose gradients add up before the step (the same update in less memory)',
    value: 'N',
    range: { integer: true, min: 1 },
  },
  ema: {
    help: "an average of the weights with this decay (timm's ModelEmaV2, e.g. 0.999), validated and saved as the model; 0: none",
    value: 'DECAY',
    range: { min: 0, max: 1, maxOpen: true, note: '0: no average' },
  },
  augment: {
    help: "training augmentation: auto (small images: crop-flip; large: imagenet), none, flip, crop-flip (padding crop + flip), imagenet (torchvision's RandomResizedCrop + flip), randaugment, trivialaugment (torchvision's RandAugment, TrivialAugmentWide: after crop-flip for small images, after RandomResizedCrop + flip for large)",
    value: 'NAME',
  },
  normalize: {
    help: "auto (pretrained weights: imagenet; small images: dataset; else imagenet), imagenet, dataset (the training set's own mean/std), none",
    value: 'NAME',
  },
  rrcScale: { help: "RandomResizedCrop's smallest area fraction (the imagenet recipe)", value: 'S', range: { min: 0, max: 1, minOpen: true } },
  cropPadding: {
    help: "crop-flip's zero padding in pixels (0: an eighth of the side)",
    value: 'PX',
    range: { integer: true, min: 0, note: '0: an eighth of the side' },
  },
  mixup: {
    help: "mixup's Beta(α, α), e.g. 0.8 (timm's semantics; --smoothing folds into the mixed targets); 0: off",
    value: 'ALPHA',
    range: { min: 0, note: '0: off' },
  },
  cutmix: {
    help: "CutMix's Beta(α, α), e.g. 1.0; 0: off; with --mixup, each batch takes one of the two (half and half)",
    value: 'ALPHA',
    range: { min: 0, note: '0: off' },
  },
};

export const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const camel = (k: string) => k.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

/**
 * A run's configuration from option values (kebab-case keys, raw strings or booleans, as a command
 * line gives them) over a JSON file (`config`: its path) over `base`: values win over the file.
 * Unknown keys and bad values are BadInputErrors naming the option.
 */
export function configFrom(values: Record<string, string | boolean>, base: TrainConfig = DEFAULTS): TrainConfig {
  let config: TrainConfig = typeof values.config === 'string' ? configFile(values.config, base).config : { ...base };
  for (const [name, v] of Object.entries(values)) {
    if (name === 'config') continue;
    const key = camel(name);
    if (!Object.hasOwn(base, key)) throw new BadInputError(`unknown option --${name}`);
    config = { ...config, [key]: coerce(key as keyof TrainConfig, v, `--${name}`) };
  }
  refuseFoldsWithValFraction(config, values);
  validate(config);
  checkMachine(config);
  return withDefaultLearningRate(config);
}

/**
 * --folds decides the validation set (each run holds out its fold): a --val-fraction given too, on
 * the command line or in the --config file, would be silently ignored, so the two are refused together.
 */
function refuseFoldsWithValFraction(c: TrainConfig, values: Record<string, string | boolean>): void {
  if (c.folds < 2) return;
  const inFile = typeof values.config === 'string' && Object.keys(configFile(values.config).written).some((k) => camel(k) === 'valFraction');
  if ('val-fraction' in values || inFile)
    throw new BadInputError(
      `--val-fraction and --folds ${c.folds} both choose the validation images: with --folds each run holds out its fold (1/${c.folds} of the images); give one of them`,
    );
}

/**
 * The ranges that depend on this machine, for a run about to start here (not for a run folder read
 * back, which may come from a larger machine): --threads and --workers at most THREADS_PER_CORE
 * per core (libtorch and the loader start every thread asked for; 100,000 hang the process).
 */
export function checkMachine(c: TrainConfig): void {
  const most = maxThreads();
  for (const key of ['threads', 'workers'] as const)
    if (c[key] > most)
      throw new BadInputError(
        `--${key} ${c[key]} is more than this machine can use: at most ${most} (${THREADS_PER_CORE} per core, ${most / THREADS_PER_CORE} cores here)`,
      );
}

/**
 * The options a JSON file holds (an object, camelCase or kebab-case keys) over `base`, as typed
 * values, and the object as written. Unknown keys, values of the wrong type and a file that is not
 * a JSON object are BadInputErrors naming the file (after `label`: '--config', or '' for a run's
 * own config.json) and the key. Values are not range-checked here: validate() does that.
 */
export function configFile(file: string, base: TrainConfig = DEFAULTS, label = '--config'): { config: TrainConfig; written: Record<string, unknown> } {
  const head = label ? `${label}: ${file}` : file;
  if (!existsSync(file)) throw new BadInputError(`${head} does not exist`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new BadInputError(`${head} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new BadInputError(`${head} must hold a JSON object`);
  let config: TrainConfig = { ...base };
  for (const [k, v] of Object.entries(json)) {
    const key = camel(k);
    if (!Object.hasOwn(base, key)) throw new BadInputError(`${head} has an unknown key '${k}'`);
    config = { ...config, [key]: coerce(key as keyof TrainConfig, v, `${label ? `${label} ` : ''}${file}: '${k}'`) };
  }
  return { config, written: json as Record<string, unknown> };
}

/**
 * --lr 0 (auto): what a plain PyTorch recipe would use. SGD from scratch 0.1 at batch 256, scaled
 * linearly with the batch (Goyal et al. 2017; He et al. 2016's CIFAR ResNets: 0.1 at 128 is in
 * the same range); fine-tuning pretrained --weights ten times lower; AdamW and RMSprop 1e-3 (1e-4
 * fine-tuning), unscaled.
 */
export function defaultLearningRate(c: TrainConfig): number {
  if (c.optimizer !== 'sgd') return c.weights ? 1e-4 : 1e-3;
  return ((c.weights ? 0.01 : 0.1) * c.batchSize) / 256;
}

/** The config with --lr 0 (auto) resolved (defaultLearningRate); an explicit --lr as it is. */
export function withDefaultLearningRate(c: TrainConfig): TrainConfig {
  return c.lr > 0 ? c : { ...c, lr: defaultLearningRate(c) };
}

function coerce(key: keyof TrainConfig, v: unknown, what: string): unknown {
  const kind = typeof DEFAULTS[key];
  // As a message shows it: text as written, anything else from a JSON file as JSON (never '[object Object]').
  const got = typeof v === 'string' ? `'${v}'` : shownJson(v);
  if (kind === 'number') return parseNumber(v, what, CONFIG_HELP[key].range);
  if (kind === 'boolean') {
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    throw new BadInputError(`${what} must be true or false, got ${got}`);
  }
  if (key === 'weights' && (v === null || v === '')) return null;
  // A name or a path: text (a number from a JSON file reads as its digits); an object or a list is no name.
  if (typeof v === 'object' || typeof v === 'boolean') throw new BadInputError(`${what} must be text (a name or a path), got ${got}`);
  return String(v);
}

/**
 * Checks every value's range and the options' combinations. `o.name`: how a message names an
 * option (by default --kebab-case; a run folder's check names its file and key). `o.inputs: false`:
 * --data and --weights are not looked for (a run read back records where its inputs were).
 */
export function validate(c: TrainConfig, o: { name?: (key: keyof TrainConfig) => string; inputs?: boolean } = {}): void {
  const name = o.name ?? ((key: keyof TrainConfig) => `--${kebab(key)}`);
  const fail = (key: keyof TrainConfig, what: string): never => {
    throw new BadInputError(`${name(key)} ${what}, got ${shownJson(c[key])}`);
  };
  // Every number against its range in CONFIG_HELP, the one place ranges are declared.
  for (const [key, { range }] of Object.entries(CONFIG_HELP) as Array<[keyof TrainConfig, { range?: NumberRange }]>)
    if (range && !inRange(c[key], range)) fail(key, `must be ${describeRange(range)}`);
  if (!MODELS.has(c.model)) fail('model', `must be one of ${MODELS.names.join(', ')}`);
  if (!OPTIMIZERS.has(c.optimizer)) fail('optimizer', `must be one of ${OPTIMIZERS.names.join(', ')}`);
  if (!SCHEDULERS.has(c.scheduler)) fail('scheduler', `must be one of ${SCHEDULERS.names.join(', ')}`);
  if (!LOSSES.has(c.loss)) fail('loss', `must be one of ${LOSSES.names.join(', ')}`);
  // A frozen body keeps what --weights learnt: without them it would stay at its random initialisation.
  if (c.freezeEpochs > 0 && c.weights === null) fail('freezeEpochs', 'keeps pretrained --weights while the head learns: it needs --weights');
  if (c.freezeEpochs > 0 && c.freezeEpochs >= c.epochs) fail('freezeEpochs', `must be below --epochs ${c.epochs}: the epochs after it train every layer`);
  if (c.batchSize % c.accumulate !== 0) fail('accumulate', `must divide --batch-size ${c.batchSize}`);
  if (!(AUGMENTATIONS as readonly string[]).includes(c.augment)) fail('augment', `must be one of ${AUGMENTATIONS.join(', ')}`);
  if (!(NORMALIZATIONS as readonly string[]).includes(c.normalize)) fail('normalize', `must be one of ${NORMALIZATIONS.join(', ')}`);
  if ((c.mixup > 0 || c.cutmix > 0) && c.loss !== 'cross-entropy')
    fail(c.mixup > 0 ? 'mixup' : 'cutmix', `mixes the targets of --loss cross-entropy, not of --loss ${c.loss}`);
  if (!['auto', 'fp32', 'bf16', 'fp64'].includes(c.precision)) fail('precision', 'must be auto, fp32, bf16 or fp64');
  if (!/^(auto|cpu|cuda(:\d+)?)$/.test(c.device)) fail('device', 'must be auto, cpu, cuda or cuda:N');
  if (c.out === '') fail('out', 'must name a folder');
  if (c.folds === 1) fail('folds', 'must be 0 (off) or at least 2 (one fold holds every image out, leaving none to train on)');
  if (c.folds >= 2 && c.fold >= c.folds) fail('fold', `must be below --folds ${c.folds} (folds 0 … ${c.folds - 1})`);
  if (c.folds === 0 && c.fold !== 0) fail('fold', 'is the fold a run of --folds K holds out: give --folds too');
  // The held-out fold is the validation set, whole: a cap on it would leave images out of the out-of-fold predictions.
  if (c.folds >= 2 && c.valLimitPerClass > 0) fail('valLimitPerClass', `cannot cap the held-out fold of --folds ${c.folds}: every image is held out once`);
  if (o.inputs === false) return;
  if (!DATASETS.has(c.data) && !existsSync(c.data))
    fail('data', `must be a folder (with train.csv, or one folder per class), a CSV, or one of ${DATASETS.names.join(', ')}`);
  // A folder is not a weights file (reading it would fail as EISDIR, naming nothing).
  if (c.weights !== null && !(existsSync(c.weights) && statSync(c.weights).isFile())) fail('weights', 'must be an existing .pth or .safetensors file');
}
