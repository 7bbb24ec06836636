// A training run's configuration: defaults, parsing from flags and a JSON file (flags win), and
// validation that names the option at fault before any work starts.
import { existsSync, readFileSync } from 'node:fs';
import type { Precision } from '../engine/index.js';

export const MODELS = ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152', 'resnext50_32x4d', 'wide_resnet50_2', 'resnet20', 'resnet32', 'resnet56'] as const;
export type ModelName = (typeof MODELS)[number];

export interface TrainConfig {
  /** A folder with train.csv (classify-leaves layout), an image folder per class, or 'fashion-mnist'. */
  data: string;
  model: ModelName;
  /** Pretrained weights (.pth or .safetensors); a head of another class count is replaced. */
  weights: string | null;
  smoothing: number;
  epochs: number;
  /** The global batch: a data-parallel run splits it evenly over its processes. */
  batchSize: number;
  lr: number;
  optimizer: 'sgd' | 'adamw';
  /** Per epoch: 'cosine' (CosineAnnealingLR over the epochs), 'step' (×0.1 every third of the epochs); per batch: 'onecycle' (PyTorch's OneCycleLR, peaking at --lr, momentum cycled 0.95 → 0.85 → 0.95). */
  scheduler: 'cosine' | 'step' | 'onecycle' | 'none';
  weightDecay: number;
  momentum: number;
  seed: number;
  imageSize: number;
  valFraction: number;
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
  /** 'cross-entropy' (with --smoothing), or 'online-label-smoothing' (Zhang et al. 2021; --smoothing is its first epoch's ε). */
  loss: 'cross-entropy' | 'online-label-smoothing';
  /** Online Label Smoothing's weight of the hard-label term. */
  olsAlpha: number;
  /** 'auto': bf16 autocast (the classifier head kept in fp32) and channels_last where the CPU computes bf16 natively, fp32 elsewhere. */
  precision: Precision;
  /** Data-parallel runs: BatchNorm statistics over every rank's batch (PyTorch's SyncBatchNorm) rather than each rank's own. */
  syncBn: boolean;
}

export const DEFAULTS: TrainConfig = {
  data: 'fashion-mnist',
  model: 'resnet20',
  weights: null,
  smoothing: 0.1,
  epochs: 10,
  batchSize: 256,
  lr: 0.01,
  optimizer: 'sgd',
  scheduler: 'cosine',
  weightDecay: 5e-4,
  momentum: 0.9,
  seed: 0,
  imageSize: 224,
  valFraction: 0.1,
  workers: 2,
  out: 'runs/train',
  limitPerClass: 0,
  valLimitPerClass: 0,
  labelNoise: 0,
  skipBadImages: false,
  threads: 0,
  loss: 'cross-entropy',
  olsAlpha: 0.5,
  precision: 'auto',
  syncBn: false,
};

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const camel = (k: string) => k.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

/**
 * Parses `--key value` / `--flag` arguments (keys as in TrainConfig, kebab-case) over a JSON
 * `--config FILE` over the defaults. `extra` lists flags a command adds (their raw values are
 * returned apart). Unknown flags and bad values are errors naming the flag.
 */
export function parseTrainArgs(argv: string[], extra: Record<string, 'string' | 'boolean'> = {}, base: TrainConfig = DEFAULTS): { config: TrainConfig; extra: Record<string, string | boolean> } {
  const raw: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}' (options start with --)`);
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const key = camel(name);
    const isBool = key in base ? typeof base[key as keyof TrainConfig] === 'boolean' : extra[name] === 'boolean';
    if (!(key in base) && !(name in extra) && key !== 'config') throw new Error(`unknown option --${name}`);
    if (isBool && inline === undefined) raw[name] = true;
    else {
      const value = inline ?? argv[++i];
      if (value === undefined) throw new Error(`option --${name} needs a value`);
      raw[name] = value;
    }
  }
  let config: TrainConfig = { ...base };
  if (typeof raw.config === 'string') {
    const file = raw.config;
    if (!existsSync(file)) throw new Error(`--config: ${file} does not exist`);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`--config: ${file} is not valid JSON (${(e as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`--config: ${file} must hold a JSON object`);
    for (const [k, v] of Object.entries(json)) {
      const key = camel(k);
      if (!(key in base)) throw new Error(`--config: ${file} has an unknown key '${k}'`);
      config = { ...config, [key]: coerce(key as keyof TrainConfig, v, `--config ${file}: '${k}'`) };
    }
  }
  const extras: Record<string, string | boolean> = {};
  for (const [name, v] of Object.entries(raw)) {
    if (name === 'config') continue;
    const key = camel(name);
    if (key in base) config = { ...config, [key]: coerce(key as keyof TrainConfig, v, `--${name}`) };
    else extras[name] = v;
  }
  validate(config);
  return { config, extra: extras };
}

function coerce(key: keyof TrainConfig, v: unknown, what: string): unknown {
  const kind = typeof DEFAULTS[key];
  if (key === 'weights') return v === null || v === '' ? null : String(v);
  if (kind === 'number') {
    const n = typeof v === 'number' ? v : Number(v);
    if (typeof v === 'boolean' || !Number.isFinite(n)) throw new Error(`${what} must be a number, got '${String(v)}'`);
    return n;
  }
  if (kind === 'boolean') {
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 'false') return v === 'true';
    throw new Error(`${what} must be true or false, got '${String(v)}'`);
  }
  return String(v);
}

export function validate(c: TrainConfig): void {
  const fail = (key: keyof TrainConfig, what: string): never => {
    throw new Error(`--${kebab(key)} ${what}, got ${JSON.stringify(c[key])}`);
  };
  const positiveInt = (key: keyof TrainConfig) => (!Number.isInteger(c[key]) || (c[key] as number) < 1) && fail(key, 'must be a positive integer');
  const nonNegativeInt = (key: keyof TrainConfig) => (!Number.isInteger(c[key]) || (c[key] as number) < 0) && fail(key, 'must be an integer ≥ 0');
  if (!MODELS.includes(c.model)) fail('model', `must be one of ${MODELS.join(', ')}`);
  if (!(c.smoothing >= 0 && c.smoothing <= 1)) fail('smoothing', 'must be in [0, 1]');
  positiveInt('epochs');
  positiveInt('batchSize');
  positiveInt('imageSize');
  if (!(c.lr > 0)) fail('lr', 'must be > 0');
  if (!['sgd', 'adamw'].includes(c.optimizer)) fail('optimizer', 'must be sgd or adamw');
  if (!['cosine', 'step', 'onecycle', 'none'].includes(c.scheduler)) fail('scheduler', 'must be cosine, step, onecycle or none');
  if (!(c.weightDecay >= 0)) fail('weightDecay', 'must be ≥ 0');
  if (!(c.momentum >= 0 && c.momentum < 1)) fail('momentum', 'must be in [0, 1)');
  nonNegativeInt('seed');
  if (!(c.valFraction > 0 && c.valFraction < 1)) fail('valFraction', 'must be in (0, 1)');
  nonNegativeInt('workers');
  nonNegativeInt('limitPerClass');
  nonNegativeInt('valLimitPerClass');
  nonNegativeInt('threads');
  if (!['cross-entropy', 'online-label-smoothing'].includes(c.loss)) fail('loss', 'must be cross-entropy or online-label-smoothing');
  if (!(c.olsAlpha >= 0 && c.olsAlpha <= 1)) fail('olsAlpha', 'must be in [0, 1]');
  if (!['auto', 'fp32', 'bf16', 'fp64'].includes(c.precision)) fail('precision', 'must be auto, fp32, bf16 or fp64');
  if (!(c.labelNoise >= 0 && c.labelNoise < 1)) fail('labelNoise', 'must be in [0, 1)');
  if (c.out === '') fail('out', 'must name a folder');
  if (c.data !== 'fashion-mnist' && !existsSync(c.data)) fail('data', "must be a folder (with train.csv, or one folder per class) or 'fashion-mnist'");
  if (c.weights !== null && !existsSync(c.weights)) fail('weights', 'must be an existing .pth or .safetensors file');
}
