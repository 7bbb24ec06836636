// K-fold cross-validation (lsr train --folds K, and each ε of compare --folds K): K ordinary runs in
// OUT/fold-k, each validated on the fold it holds out; then each held-out fold predicted by its
// run's best checkpoint, the out-of-fold probabilities of every labelled image (oof.csv), their
// metrics and the folds' (folds.json), and the labels confident learning disputes (disputed.csv),
// scored against the flips when the run injected --label-noise (noise.json lists them).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type DistContext, collective } from '../distributed/index.js';
import { BadInputError, dist, tensor, tidy } from '../engine/index.js';
import { type DisputedLabel, type Metrics, type Spread, classificationMetrics, confidentLearning, flaggedAgainstFlips, spread } from '../eval/index.js';
import { writeFileAtomic } from '../io/index.js';
import { type EpochMetrics, type FoldPlan, type TrainConfig, type TrainResult, foldPlan, heldOut, loadRun, predictLogits, train } from '../train/index.js';
import { type ExperimentOptions, experimentLog, runGrid, withExperimentLock } from './grid.js';

export interface CrossValidateOptions extends ExperimentOptions {
  /** K (default: config.folds). */
  folds?: number;
  /** Continue an interrupted cross-validation: finished folds are kept, an unfinished one resumes, the rest train; then the out-of-fold files. */
  resume?: boolean;
  /** Stop (checkpointed) each fold's run after this many epochs: for tests of --resume. */
  stopAfterEpochs?: number;
}

/** A fold's held-out images as its run's best checkpoint sees them. */
export interface HeldOutPrediction {
  fold: number;
  /** The run's folder. */
  out: string;
  /** The held-out images' indices in the full labelled set, ascending. */
  indices: number[];
  /** Their class probabilities, row by row. */
  probs: number[][];
  /** The held-out fold's metrics under the best checkpoint (against the given labels). */
  metrics: Metrics;
  checkpoint: string;
}

/** One fold's run. */
export interface FoldRun extends HeldOutPrediction {
  status: TrainResult['status'];
  epochs: EpochMetrics[];
}

/** What the out-of-fold probabilities say: written to folds.json, disputed.csv and oof.csv. */
export interface OutOfFold {
  /** Accuracy, NLL and ECE over the concatenated out-of-fold probabilities (every labelled image once, against its given label). */
  metrics: Pick<Metrics, 'count' | 'accuracy' | 'top5' | 'nll' | 'ece'>;
  /** Each fold's held-out metrics, mean ± sd over the folds. */
  perFold: { accuracy: Spread; nll: Spread; ece: Spread };
  /**
   * The labels confident learning disputes, most confident first (index: the image's in the full
   * set); with --label-noise, `original` is the label before the noise (the given one was flipped
   * when they differ).
   */
  disputed: Array<DisputedLabel & { image: string; original?: number }>;
  /** With --label-noise: the images flipped and the disputed set's precision and recall against them. */
  noise: { labelNoise: number; flipped: number; flagged: number; both: number; precision: number; recall: number } | null;
  files: { oof: string; folds: string; disputed: string; noise: string | null };
}

export interface CrossValidationResult extends OutOfFold {
  folds: number;
  seed: number;
  smoothing: number;
  /** The runs, fold by fold. */
  runs: FoldRun[];
  classes: readonly string[];
}

/**
 * Trains `config` once per fold (OUT/fold-0 … fold-{K−1}, each an ordinary run whose validation set
 * is its fold), then writes OUT/oof.csv, folds.json, disputed.csv (and noise.json with
 * --label-noise). The folds depend on the data and the seed alone. OUT is locked for its life.
 */
export async function crossValidate(config: TrainConfig, o: CrossValidateOptions = {}): Promise<CrossValidationResult> {
  const folds = o.folds ?? config.folds;
  if (!(Number.isInteger(folds) && folds >= 2)) throw new BadInputError(`--folds must be at least 2 for cross-validation, got ${folds}`);
  const c = { ...config, folds, fold: 0 };
  return withExperimentLock(c.out, o, async () => {
    // The folds decided (and refused) before any training; every fold's run deals the same ones.
    const plan = foldPlan(c);
    if (!o.dist || o.dist.rank === 0) mkdirSync(c.out, { recursive: true });
    const runs = await runGrid(c.out, [c.seed], [c.smoothing], ({ fold }) => trainFold(c, plan, fold!, join(c.out, `fold-${fold}`), o), { folds });
    const oof = writeOutOfFold(c.out, c, plan, runs, o.dist ?? null);
    return { ...oof, folds, seed: c.seed, smoothing: c.smoothing, runs, classes: plan.dataset.vocab.classes };
  });
}

/** Fold k's run of `config` in `out` (resumed when asked and it holds a checkpoint), then its held-out fold predicted by its best checkpoint. */
export async function trainFold(config: TrainConfig, plan: FoldPlan, k: number, out: string, o: CrossValidateOptions): Promise<FoldRun> {
  const log = experimentLog(o);
  const cfg = { ...config, folds: plan.folds, fold: k, out };
  const resume = o.resume === true && existsSync(join(out, 'last.safetensors'));
  log(
    `\n== fold ${k} (${k + 1} of ${plan.folds}), label smoothing ${config.smoothing}: ${out}${resume ? ' (resumed: continued from its last checkpoint, or kept as it is when it had finished)' : ''}`,
  );
  const run = await train(cfg, { log, tty: o.tty, signal: o.signal, dist: o.dist, overwrite: o.overwrite, resume, stopAfterEpochs: o.stopAfterEpochs });
  run.model.dispose();
  if (run.status === 'interrupted') throw new Error(`interrupted during fold ${k} (${out}): continue the cross-validation with the same command and --resume`);
  return { ...(await predictHeldOut(plan, k, out, o.dist ?? null)), status: run.status, epochs: run.epochs };
}

/** Fold k's held-out images through its run's best checkpoint: probabilities in float64, rows in dataset order. */
export async function predictHeldOut(plan: FoldPlan, k: number, out: string, ctx: DistContext | null): Promise<HeldOutPrediction> {
  const indices = heldOut(plan, k);
  // Rank 0 alone writes the checkpoints: the others wait until best.safetensors is there to read.
  if (ctx) collective(ctx, `before predicting fold ${k}'s held-out images`, () => dist.barrier());
  const run = loadRun(out, 'best');
  try {
    const { logits, labels, indices: rows } = await predictLogits(run, plan.dataset.subset(indices), { ctx });
    try {
      const metrics = classificationMetrics(logits, labels);
      const flat = tidy(() => logits.to('float64').softmax(1).toFlatArray());
      const classes = logits.shape[1]!;
      const probs = rows.map((_, r) => flat.slice(r * classes, (r + 1) * classes));
      // predictLogits returns the rows in dataset order (gathered so across ranks): row r is indices[rows[r]].
      return { fold: k, out, indices: rows.map((r) => indices[r]!), probs, metrics, checkpoint: run.checkpoint };
    } finally {
      logits.dispose();
      labels.dispose();
    }
  } finally {
    run.model.dispose();
  }
}

/**
 * The out-of-fold files of a cross-validation in `dir` (rank 0 writes them): every pool image once,
 * with the probabilities of the run that held it out. Confident learning reads those and the given labels.
 */
export function writeOutOfFold(dir: string, config: TrainConfig, plan: FoldPlan, runs: readonly HeldOutPrediction[], ctx: DistContext | null): OutOfFold {
  const { dataset, original } = plan;
  const vocab = dataset.vocab;
  const rows = runs.flatMap((r) => r.indices.map((index, j) => ({ index, fold: r.fold, probs: r.probs[j]! }))).sort((a, b) => a.index - b.index);
  if (rows.length !== plan.pool.length || rows.some((r, j) => r.index !== plan.pool[j]))
    throw new Error(`the ${runs.length} folds held out ${rows.length} images, not the ${plan.pool.length} cross-validated, each once`);
  const given = rows.map((r) => dataset.sample(r.index).label);
  const metrics = outOfFoldMetrics(
    rows.map((r) => r.probs),
    given,
  );
  const perFold = {
    accuracy: spread(runs.map((r) => r.metrics.accuracy)),
    nll: spread(runs.map((r) => r.metrics.nll)),
    ece: spread(runs.map((r) => r.metrics.ece)),
  };
  const cl = confidentLearning(
    rows.map((r) => r.probs),
    given,
  );
  const disputed = cl.disputed.map((d) => {
    const index = rows[d.index]!.index;
    return { ...d, index, image: dataset.sample(index).name, ...(config.labelNoise > 0 ? { original: original[index]! } : {}) };
  });
  const flipped = rows.flatMap((r) => (dataset.sample(r.index).label !== original[r.index] ? [r.index] : []));
  const noise =
    config.labelNoise > 0
      ? {
          labelNoise: config.labelNoise,
          ...flaggedAgainstFlips(
            disputed.map((d) => d.index),
            flipped,
          ),
        }
      : null;
  const files = {
    oof: join(dir, 'oof.csv'),
    folds: join(dir, 'folds.json'),
    disputed: join(dir, 'disputed.csv'),
    noise: noise ? join(dir, 'noise.json') : null,
  };
  if (!ctx || ctx.rank === 0) {
    const name = (i: number) => csvField(dataset.sample(i).name);
    const label = (k: number) => csvField(vocab.label(k));
    writeFileAtomic(
      files.oof,
      `image,label,fold,${vocab.classes.map(csvField).join(',')}\n${rows.map((r, j) => `${name(r.index)},${label(given[j]!)},${r.fold},${r.probs.map(num).join(',')}\n`).join('')}`,
    );
    writeFileAtomic(
      files.disputed,
      `image,given,suggested,confidence\n${disputed.map((d) => `${csvField(d.image)},${label(d.given)},${label(d.suggested)},${num(d.confidence)}\n`).join('')}`,
    );
    if (noise && files.noise)
      writeFileAtomic(
        files.noise,
        `${JSON.stringify(
          {
            labelNoise: config.labelNoise,
            seed: config.seed,
            note: 'applied once to the whole labelled set, keyed by each image index, before the folds: every fold trains and holds out these given labels',
            flipped: flipped.map((i) => ({
              image: dataset.sample(i).name,
              index: i,
              given: vocab.label(dataset.sample(i).label),
              original: vocab.label(original[i]!),
            })),
          },
          null,
          2,
        )}\n`,
      );
    const summary = {
      folds: plan.folds,
      seed: config.seed,
      smoothing: config.smoothing,
      images: rows.length,
      checkpoint: 'best',
      outOfFold: metrics,
      meanOverFolds: perFold,
      perFold: runs.map((r) => ({ fold: r.fold, out: r.out, images: r.indices.length, accuracy: r.metrics.accuracy, nll: r.metrics.nll, ece: r.metrics.ece })),
      disputed: {
        rule: "confident learning's off-diagonal confident joint (Northcutt et al. 2021, C_confusion): an image counted in a class other than its given label",
        count: disputed.length,
        thresholds: Object.fromEntries(cl.thresholds.map((t, k) => [vocab.label(k), Number.isFinite(t) ? t : null])),
        confidentJoint: cl.joint,
      },
      labelNoise: noise,
    };
    writeFileAtomic(files.folds, `${JSON.stringify(summary, null, 2)}\n`);
  }
  return { metrics, perFold, disputed, noise, files };
}

/** Accuracy, top-5, NLL and ECE of probability rows against labels (log-probabilities are logits to the softmax). */
function outOfFoldMetrics(probs: number[][], labels: number[]): OutOfFold['metrics'] {
  const m = tidy(() => classificationMetrics(tensor(probs, { dtype: 'float64' }).clamp(1e-300, 1).log(), tensor(labels.map(BigInt))));
  return { count: m.count, accuracy: m.accuracy, top5: m.top5, nll: m.nll, ece: m.ece };
}

/** Nine significant digits: a float64 probability's float32 worth and more, in a CSV a person can open. */
const num = (x: number) => String(Number(x.toPrecision(9)));
const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
