// A trained run's folder read back as a whole (eval, predict, resume): config.json, vocab.json,
// recipe.json and a checkpoint's own record of the run, each checked with the rules the command
// line uses and against one another, so that an edited, truncated or mismatched file is an error
// naming the file and the field, never a silently wrong prediction.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as data from '../data/index.js';
import { BadInputError, type Tensor, shownJson } from '../engine/index.js';
import type { Classifier } from '../models/index.js';
import { type LoadedCheckpoint, loadCheckpoint } from './checkpoint.js';
import { DEFAULTS, type TrainConfig, configFile, validate } from './config.js';
import { registeredDataset } from './datasets.js';
import { type Recipe, needsStatistics, recipeFor } from './recipe.js';

export interface RunFolder {
  dir: string;
  /** config.json, validated (its --weights as recorded: they decide the recipe). */
  config: TrainConfig;
  /** config.json's object as written (a resume compares its options with it). */
  written: Record<string, unknown>;
  /** vocab.json: the classes the checkpoint was trained with, in their order. */
  vocab: data.ClassVocabulary;
  /** recipe.json (or, for a run from before lsr wrote one, the recipe lsr then used), checked against config.json. */
  recipe: Recipe;
  /** The checkpoint file, and its contents: the caller disposes them. */
  checkpointPath: string;
  checkpoint: LoadedCheckpoint;
}

/** The keys of config.json that decide the model a checkpoint's weights fit, checked against the checkpoint's own record. */
const MODEL_KEYS = ['model', 'imageSize'] as const;

/**
 * Reads and checks a run folder. `checkpoint`: which one (default: best, or last for a run without
 * validation); `option`: how messages name the folder (--run for eval and predict, --out for a resume).
 */
export function readRunFolder(dir: string, o: { checkpoint?: string; option?: string } = {}): RunFolder {
  const option = o.option ?? '--run';
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new BadInputError(`${option} ${dir}: no config.json (is it an lsr train output folder?)`);
  const { config, written } = configFile(configPath, DEFAULTS, '');
  validate(config, { name: (key) => `${configPath}: '${key}'`, inputs: false });
  const vocabPath = join(dir, 'vocab.json');
  const vocab = readRunVocab(dir);
  const recipe = readRecipe(dir, config, written);
  const name = o.checkpoint ?? (config.valFraction === 0 ? 'last' : 'best');
  const checkpointPath = join(dir, `${name}.safetensors`);
  if (!existsSync(checkpointPath)) {
    const have = readdirSync(dir)
      .filter((f) => f.endsWith('.safetensors'))
      .map((f) => f.slice(0, -'.safetensors'.length));
    throw new BadInputError(`--checkpoint ${name}: ${dir} has no ${name}.safetensors (${have.length ? `it has: ${have.join(', ')}` : 'it has no checkpoint'})`);
  }
  const checkpoint = loadCheckpoint(checkpointPath);
  try {
    const meta = checkpoint.meta as { vocab?: { classes?: unknown }; config?: unknown };
    const classes = meta.vocab?.classes;
    if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string'))
      throw new BadInputError(`${checkpointPath}: its metadata holds no class list (vocab.classes): not a checkpoint lsr wrote`);
    checkClasses(vocabPath, vocab.classes, checkpointPath, classes);
    const trained = (typeof meta.config === 'object' && meta.config !== null ? meta.config : {}) as Record<string, unknown>;
    for (const key of MODEL_KEYS)
      if (key in trained && !isDeepStrictEqual(written[key], trained[key]))
        throw new BadInputError(
          `${configPath}: '${key}' is ${key in written ? JSON.stringify(written[key]) : 'missing'}, but ${checkpointPath} was trained with ${JSON.stringify(trained[key])}: config.json was edited or belongs to another run`,
        );
  } catch (e) {
    checkpoint.dispose();
    throw e;
  }
  return { dir, config, written, vocab, recipe, checkpointPath, checkpoint };
}

/** A run folder's vocab.json alone (an ensemble checks its members' classes against one another before loading any weights). */
export function readRunVocab(dir: string): data.ClassVocabulary {
  const vocabPath = join(dir, 'vocab.json');
  try {
    return data.ClassVocabulary.fromJSON(readJson(vocabPath), vocabPath);
  } catch (e) {
    throw e instanceof BadInputError ? e : new BadInputError(`${vocabPath}: ${(e as Error).message.replace(`${vocabPath}: `, '')}`);
  }
}

/** The classes of vocab.json (or of a resumed run's data) against those the checkpoint was trained with: the same, in the same order. */
export function checkClasses(source: string, classes: readonly string[], checkpointPath: string, trained: readonly string[]): void {
  if (isDeepStrictEqual([...classes], [...trained])) return;
  const at = classes.findIndex((c, i) => c !== trained[i]);
  const detail =
    classes.length !== trained.length
      ? `${classes.length} classes against the checkpoint's ${trained.length}`
      : `class ${at} is ${JSON.stringify(classes[at])} there but ${JSON.stringify(trained[at])} in the checkpoint`;
  throw new BadInputError(
    `${source}: its classes differ from those ${checkpointPath} was trained with (${detail}): predictions would be mapped to the wrong labels`,
  );
}

/**
 * The weights a checkpoint holds against the model the folder describes: a first convolution
 * that takes another number of channels names recipe.json; any other misfit config.json.
 */
export function loadWeightsInto(run: RunFolder, model: Classifier, state: Map<string, Tensor>): void {
  const stem = [...model.stateDict()].find(([, t]) => t.shape.length === 4);
  const saved = stem && state.get(stem[0]);
  if (stem && saved && saved.shape.length === 4 && saved.shape[1] !== stem[1].shape[1])
    throw new BadInputError(
      `${join(run.dir, 'recipe.json')}: 'eval.channels' is ${run.recipe.eval.channels}, but the weights of ${run.checkpointPath} take ${saved.shape[1]} input channel${saved.shape[1] === 1 ? '' : 's'} (${stem[0]})`,
    );
  try {
    model.loadStateDict(state);
  } catch (e) {
    throw new BadInputError(
      `${run.checkpointPath}: its weights do not fit --model ${run.config.model} as ${join(run.dir, 'config.json')} describes it: ${(e as Error).message}`,
    );
  }
}

function readJson(path: string): unknown {
  if (!existsSync(path)) throw new BadInputError(`${path} is missing (every run folder lsr writes has one): restore it from a copy of the run`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new BadInputError(`${path} is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * recipe.json: its values checked (channels, a finite mean and a positive std per channel), then
 * compared with the recipe config.json's options give, with the training set's statistics taken
 * from the file where the recipe normalises by them. A run from before lsr wrote recipes (no
 * 'augment' in its config.json) gets the recipe lsr then used: torchvision's for any --data but
 * Fashion-MNIST.
 */
function readRecipe(dir: string, config: TrainConfig, written: Record<string, unknown>): Recipe {
  const path = join(dir, 'recipe.json');
  if (!existsSync(path) && !('augment' in written)) {
    const legacy = registeredDataset(config.data) ? {} : { augment: 'imagenet', normalize: 'imagenet' };
    return recipeFor({ ...config, ...legacy });
  }
  const json = readJson(path);
  const fail = (field: string, what: string, v: unknown): never => {
    throw new BadInputError(`${path}: '${field}' ${what}, got ${shownJson(v)}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new BadInputError(`${path} must hold a JSON object (the run's recipe)`);
  const file = json as Record<string, Record<string, unknown>>;
  for (const part of ['train', 'eval'] as const) {
    const p = file[part];
    if (typeof p !== 'object' || p === null || Array.isArray(p)) fail(part, 'must be an object (a pipeline)', p);
    if (p!.channels !== 1 && p!.channels !== 3) fail(`${part}.channels`, 'must be 1 or 3', p!.channels);
    const n = p!.channels as number;
    const numbers = (v: unknown, ok: (x: number) => boolean) =>
      Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x) && ok(x));
    if (!numbers(p!.mean, () => true)) fail(`${part}.mean`, `must hold ${n} finite number${n > 1 ? 's' : ''} (one per input channel)`, p!.mean);
    if (!numbers(p!.std, (x) => x > 0)) fail(`${part}.std`, `must hold ${n} number${n > 1 ? 's' : ''} > 0 (one per input channel)`, p!.std);
    if (!Array.isArray(p!.transforms)) fail(`${part}.transforms`, 'must be a list of transforms', p!.transforms);
  }
  const train = file.train as unknown as data.Pipeline;
  const stats = needsStatistics(config) ? { mean: train.mean, std: train.std, grey: train.channels === 1, images: 0 } : null;
  let expected: Recipe;
  try {
    expected = recipeFor(config, stats);
  } catch (e) {
    throw new BadInputError(`${path} cannot be checked against ${join(dir, 'config.json')}: ${(e as Error).message}`);
  }
  for (const part of ['train', 'eval'] as const) {
    const diff = firstDifference(file[part], expected[part], part);
    if (diff)
      throw new BadInputError(
        `${path}: '${diff.at}' is ${shownJson(diff.found)}, but config.json's options give ${shownJson(diff.expected)}: recipe.json was edited or belongs to another run`,
      );
  }
  return expected;
}

/** The first place two JSON values differ (a dotted path with [i] for list items), or null. */
function firstDifference(found: unknown, expected: unknown, at: string): { at: string; found: unknown; expected: unknown } | null {
  if (isDeepStrictEqual(found, expected)) return null;
  if (Array.isArray(found) && Array.isArray(expected) && found.length === expected.length) {
    for (let i = 0; i < found.length; i++) {
      const d = firstDifference(found[i], expected[i], `${at}[${i}]`);
      if (d) return d;
    }
  }
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(found) && isObject(expected))
    for (const k of new Set([...Object.keys(expected), ...Object.keys(found)])) {
      const d = firstDifference(found[k], expected[k], `${at}.${k}`);
      if (d) return d;
    }
  return { at, found, expected };
}
