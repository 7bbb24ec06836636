// Several trained runs as one model: each member predicts with its own recipe (image size,
// normalisation), precision and checkpoint, and the ensemble's probabilities are the mean of the
// members' softmax probabilities. The members are a k-fold run's folds (OUT/fold-0 …), a
// comparison's runs (one per ε and seed) or any runs trained on the same classes.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as data from '../data/index.js';
import type { DistContext } from '../distributed/index.js';
import { BadInputError, F, type Tensor, noGrad, stack, tidy } from '../engine/index.js';
import { type Metrics, classificationMetrics } from '../eval/index.js';
import { type LoadedRun, loadRun, predictLogits } from './inference.js';
import { readRunVocab } from './run-folder.js';

/** A folder lsr train wrote: it holds config.json or vocab.json. */
export function isRunFolder(dir: string): boolean {
  return existsSync(join(dir, 'config.json')) || existsSync(join(dir, 'vocab.json'));
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

/** Names in natural order: fold-2 before fold-10, smoothing-0.05 before smoothing-0.1 (code points otherwise, as the vocabulary sorts). */
function naturalOrder(a: string, b: string): number {
  const split = (s: string) => s.split(/(\d+(?:\.\d+)?)/);
  const [x, y] = [split(a), split(b)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const [p, q] = [x[i]!, y[i]!];
    if (p === q) continue;
    // Odd places hold the numbers the split captured.
    if (i % 2 === 1) return Number(p) - Number(q) || (p < q ? -1 : 1);
    return p < q ? -1 : 1;
  }
  return x.length - y.length;
}

const subfolders = (dir: string) =>
  readdirSync(dir)
    .filter((f) => isDir(join(dir, f)))
    .sort(naturalOrder)
    .map((f) => join(dir, f));

/**
 * The run folders a --run value names: the folder itself when it is a run; else the run folders
 * one level down (a k-fold run's fold-0 …, a comparison's smoothing-ε), and, for a comparison over
 * seeds, two levels down (seed-S/smoothing-ε); in natural order.
 */
export function findRunFolders(path: string, option = '--run'): string[] {
  if (!existsSync(path)) throw new BadInputError(`${option} ${path}: no config.json, no such folder (name an lsr train output folder, or a folder of them)`);
  if (!isDir(path)) throw new BadInputError(`${option} ${path} is a file: name a run folder (config.json, vocab.json) or a folder of run folders`);
  if (isRunFolder(path)) return [path];
  const found = subfolders(path).flatMap((d) => (isRunFolder(d) ? [d] : subfolders(d).filter(isRunFolder)));
  if (found.length === 0)
    throw new BadInputError(
      `${option} ${path}: not a run folder (no config.json or vocab.json) and no run folder in it or one level further down (fold-0/, smoothing-0.1/, seed-0/smoothing-0.1/)`,
    );
  return found;
}

/**
 * Every --run value (the option repeated, comma lists, folders of runs) as run folders, each once.
 * A value that is itself an existing path is one path even if it holds a comma.
 */
export function ensembleMembers(values: readonly string[], option = '--run'): string[] {
  const items = values.flatMap((v) => (existsSync(v) ? [v] : v.split(',').map((s) => s.trim())));
  if (items.some((s) => s === '')) throw new BadInputError(`${option} has an empty item in '${values.join(',')}' (a comma-separated list of run folders)`);
  const seen = new Map<string, string>();
  const out: string[] = [];
  for (const dir of items.flatMap((v) => findRunFolders(v, option))) {
    const key = resolve(dir);
    const earlier = seen.get(key);
    // A run twice would weigh twice in the mean, silently.
    if (earlier !== undefined)
      throw new BadInputError(`${option} names the run ${dir} twice${earlier !== dir ? ` (also as ${earlier})` : ''}: give each run once`);
    seen.set(key, dir);
    out.push(dir);
  }
  return out;
}

/**
 * The members' classes: the same list in the same order (no remapping by name: runs on the same
 * data sort their classes alike, and anything else is more likely a mistake than a wish); a
 * BadInputError naming both runs and the first class that differs.
 */
export function checkMemberClasses(members: ReadonlyArray<{ dir: string; classes: readonly string[] }>): void {
  const [first, ...rest] = members;
  if (!first) return;
  for (const m of rest) {
    const at = first.classes.findIndex((c, i) => c !== m.classes[i]);
    const differs = at >= 0 ? at : m.classes.length !== first.classes.length ? first.classes.length : -1;
    if (differs < 0) continue;
    const shown = (classes: readonly string[]) => (differs < classes.length ? JSON.stringify(classes[differs]) : 'nothing (its list ends there)');
    throw new BadInputError(
      `--run: the ensemble's runs ${first.dir} and ${m.dir} have different classes (${first.classes.length} and ${m.classes.length}; class ${differs} is ${shown(first.classes)} in ${first.dir} but ${shown(m.classes)} in ${m.dir}): an ensemble averages probabilities class by class, so its members must list the same classes in the same order`,
    );
  }
}

export interface EnsembleMemberPrediction {
  /** The run folder. */
  dir: string;
  /** The checkpoint file its weights came from. */
  checkpoint: string;
  /** Its logits [N, C] over the images (log-probabilities under tta), as predictLogits gives them. */
  logits: Tensor;
}

export interface EnsemblePrediction {
  members: EnsembleMemberPrediction[];
  /** The mean of the members' softmax probabilities, float64 [N, C]: each row sums to 1. */
  probabilities: Tensor;
  /** The images' labels [N] (−1 for unlabelled images). */
  labels: Tensor;
  /** The dataset position of each row. */
  indices: number[];
  /** The classes, the same for every member. */
  vocab: data.ClassVocabulary;
  /** The images predicted (the first member's, which every other member's matched). */
  dataset: data.SampleList;
}

export interface EnsembleOptions {
  /** Which checkpoint of each run (default: best, or last for a run without validation). */
  checkpoint?: string;
  /** Where the members run (loadRun's --device; default auto). */
  device?: string;
  /** Each member's probabilities flip-averaged (test-time augmentation). */
  tta?: boolean;
  /** A data-parallel run: every rank takes part in each member's prediction and gets all rows. */
  ctx?: DistContext | null;
}

/** Two sample lists hold the same images in the same order (by where each came from). */
function sameImages(a: data.SampleList, b: data.SampleList): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a.sample(i).where !== b.sample(i).where) return false;
  return true;
}

/**
 * The ensemble of the runs in `dirs` over a dataset: each member loaded in turn (one model in
 * memory at a time), predicting with its own recipe and precision, and the mean of their softmax
 * probabilities. `dataset` may depend on the member (its validation split, say): every member
 * must then get the same images, or the error names the two runs. The caller disposes the tensors
 * (disposeEnsemble).
 */
export async function ensemblePredict(
  dirs: readonly string[],
  dataset: data.SampleList | ((run: LoadedRun, dir: string) => data.SampleList),
  o: EnsembleOptions = {},
): Promise<EnsemblePrediction> {
  if (dirs.length === 0) throw new BadInputError('--run: an ensemble needs at least one run');
  // The classes first, from vocab.json alone: a mismatch is refused before any weight is read.
  checkMemberClasses(dirs.map((dir) => ({ dir, classes: readRunVocab(dir).classes })));
  const members: EnsembleMemberPrediction[] = [];
  const probs: Tensor[] = [];
  let first: { dir: string; images: data.SampleList; vocab: data.ClassVocabulary; labels: Tensor; indices: number[] } | null = null;
  try {
    for (const dir of dirs) {
      const run = loadRun(dir, o.checkpoint, { device: o.device });
      try {
        const images = typeof dataset === 'function' ? dataset(run, dir) : dataset;
        if (first && !sameImages(first.images, images))
          throw new BadInputError(
            `--run: ${dir} would be measured on other images than ${first.dir} (${images.length} against ${first.images.length}; a k-fold run's folds each validate on their own): name the images with --data`,
          );
        const p = await predictLogits(run, images, { tta: o.tta, ctx: o.ctx });
        members.push({ dir, checkpoint: run.checkpoint, logits: p.logits });
        probs.push(tidy(() => noGrad(() => F.softmax(p.logits.to('float64'), 1))));
        if (!first) first = { dir, images, vocab: run.vocab, labels: p.labels, indices: p.indices };
        else {
          p.labels.dispose();
          if (p.indices.some((i, k) => i !== first!.indices[k]))
            throw new Error(`ensemblePredict: ${dir}'s rows came back in another order than ${first.dir}'s`);
        }
      } finally {
        run.model.dispose();
      }
    }
  } catch (e) {
    for (const t of [...members.map((m) => m.logits), ...probs]) t.dispose();
    first?.labels.dispose();
    throw e;
  }
  const probabilities = tidy(() => stack(probs).mean([0]));
  for (const t of probs) t.dispose();
  const f = first!;
  return { members, probabilities, labels: f.labels, indices: f.indices, vocab: f.vocab, dataset: f.images };
}

/** Frees an ensemble prediction's tensors. */
export function disposeEnsemble(p: EnsemblePrediction): void {
  for (const t of [...p.members.map((m) => m.logits), p.probabilities, p.labels]) t.dispose();
}

/** An ensemble measured against its members. */
export interface EnsembleEvaluation {
  /** Each member's metrics, alone, on the same images. */
  members: Array<{ dir: string; checkpoint: string; metrics: Metrics }>;
  /** The ensemble's (from the log of its mean probabilities). */
  ensemble: Metrics;
  /** The best member's position in `members`: the highest accuracy, then the lowest NLL. */
  best: number;
  /** The ensemble minus the best member and minus the members' mean (accuracy up is better; NLL and ECE down). */
  gain: { overBest: MetricGain; overMean: MetricGain };
}
export interface MetricGain {
  accuracy: number;
  nll: number;
  ece: number;
}

/** Accuracy, NLL and ECE of the ensemble and of each member, and the ensemble's gain over the best member and over their mean. */
export function evaluateEnsemble(p: EnsemblePrediction): EnsembleEvaluation {
  const members = p.members.map((m) => ({ dir: m.dir, checkpoint: m.checkpoint, metrics: classificationMetrics(m.logits, p.labels) }));
  const logProbs = tidy(() => p.probabilities.log());
  const ensemble = classificationMetrics(logProbs, p.labels);
  logProbs.dispose();
  let best = 0;
  members.forEach((m, i) => {
    const b = members[best]!.metrics;
    if (m.metrics.accuracy > b.accuracy || (m.metrics.accuracy === b.accuracy && m.metrics.nll < b.nll)) best = i;
  });
  const mean = (k: keyof MetricGain) => members.reduce((s, m) => s + m.metrics[k], 0) / members.length;
  const minus = (base: (k: keyof MetricGain) => number): MetricGain => ({
    accuracy: ensemble.accuracy - base('accuracy'),
    nll: ensemble.nll - base('nll'),
    ece: ensemble.ece - base('ece'),
  });
  return { members, ensemble, best, gain: { overBest: minus((k) => members[best]!.metrics[k]), overMean: minus(mean) } };
}
