// The seed's experiment: the same run for each label-smoothing value (and seed), each measured on
// the validation split, then the comparison's statistics and report.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SampleList } from '../data/index.js';
import { BadInputError } from '../engine/index.js';
import { type TrainConfig, foldPlan, loadDataset, train } from '../train/index.js';
import { type HeldOutPrediction, type OutOfFold, predictHeldOut, writeOutOfFold } from './crossval.js';
import { type ComparisonRun, type SeedDifference, type SeedSummary, analyseRun, summariseSeeds } from './analysis.js';
import { type GalleryImage, writeComparisonReport } from './compare-report.js';
import { type ExperimentOptions, experimentLog, refuseRepeats, runGrid, withExperimentLock } from './grid.js';
import { readings } from './prose.js';

export interface CompareOptions extends ExperimentOptions {
  /** The label-smoothing values, one run each (per seed); the first is the baseline of the differences. Default [0, 0.1]. */
  smoothings?: number[];
  /** The three class names of the penultimate-layer projection (default: the most confused triple). */
  classes?: string[];
  /** Continue an interrupted comparison: a run whose folder holds a checkpoint resumes (a finished one is kept as it is). */
  resume?: boolean;
  /** The report's galleries: the most confidently wrong validation images per ε (and, with --folds, the most confidently disputed labels). Default 12; 0: none. */
  gallery?: number;
}

export interface ComparisonResult {
  smoothings: number[];
  seeds: number[];
  /** Every run, seed by seed and, within a seed, in the order of `smoothings`. */
  runs: ComparisonRun[];
  /** The data's class names, by index. */
  classes: readonly string[];
  /** Each setting's mean ± sd over the seeds (one seed: sd 0). */
  aggregate: SeedSummary[];
  /** Each setting against the first, paired by seed, with 95% intervals over several seeds. */
  differences: SeedDifference[];
  /** What these runs show about the claims of label smoothing, sentence by sentence. */
  readings: string[];
  /** --folds K (0: none): each setting's runs are K folds per seed. */
  folds: number;
  /** With --folds: each seed and setting's out-of-fold files and numbers (its folder: OUT[/seed-S]/smoothing-ε). */
  outOfFold: Array<OutOfFold & { seed: number; smoothing: number; dir: string }>;
  /** report.html's path (written by rank 0, with figures/ and summary.json beside it). */
  report: string;
}

/**
 * Trains `config` once per label-smoothing value and seed (the same initial weights, split and
 * batches within a seed), measures each run's last-epoch model on the validation split (accuracy,
 * top-5, NLL, ECE, temperature scaling, feature norm, the penultimate-layer projection), and
 * writes report.html, figures/ and summary.json to `config.out`, locked for the comparison's life.
 * One seed: runs in OUT/smoothing-ε; several: OUT/seed-S/smoothing-ε. With config.folds K, each of
 * those folders is a cross-validation (fold-0 … fold-{K−1}, oof.csv, folds.json, disputed.csv), the
 * same folds for every ε, and the statistics pair the settings by seed and fold.
 */
export async function compare(config: TrainConfig, o: CompareOptions = {}): Promise<ComparisonResult> {
  return withExperimentLock(config.out, o, () => compareRuns(config, o));
}

async function compareRuns(config: TrainConfig, o: CompareOptions): Promise<ComparisonResult> {
  const seeds = o.seeds ?? [config.seed];
  const smoothings = o.smoothings ?? [0, 0.1];
  refuseRepeats(seeds, '--seeds', 'seeds');
  // Each value is a run folder (smoothing-ε): a value twice would find the first run's folder taken.
  refuseRepeats(smoothings, '--smoothing', 'values');
  const ctx = o.dist ?? null;
  const lead = !ctx || ctx.rank === 0;
  const log = experimentLog(o);
  const folds = config.folds >= 2 ? config.folds : 0;
  if (config.valFraction === 0 && !folds)
    throw new BadInputError('--val-fraction 0: a comparison measures every setting on the validation split; give a fraction > 0');
  if (lead) mkdirSync(config.out, { recursive: true });
  let classes: [number, number, number] | null = null;
  // --classes is checked against the data's labels before any training.
  if (o.classes) {
    if (o.classes.length !== 3) throw new BadInputError(`--classes needs three class names, got ${o.classes.length}`);
    const { vocab } = loadDataset(config.data, { skipBadImages: config.skipBadImages, allowOutside: config.allowOutsidePaths }).dataset;
    classes = o.classes.map((c) => vocab.index(c, '--classes')) as [number, number, number];
  }
  let classNames: readonly string[] = [];
  let sizes = '';
  let recipe = '';
  // --folds: each seed's folds, decided (and refused) before any training; the same for every ε.
  const plans = new Map(folds ? seeds.map((seed) => [seed, foldPlan({ ...config, seed })]) : []);
  const heldOut = new Map<string, HeldOutPrediction[]>();
  // The galleries' images: the first seed's validation split (fold 0's), or, with --folds, its whole cross-validated set.
  let images: Map<string, GalleryImage> | null = null;
  const settingDir = (dir: string, smoothing: number) => join(dir, `smoothing-${smoothing}`);
  const runs = await runGrid(
    config.out,
    seeds,
    smoothings,
    async ({ seed, fold, setting: smoothing, dir, seedNote }): Promise<ComparisonRun> => {
      const cfg = {
        ...config,
        seed,
        smoothing,
        fold: fold ?? 0,
        out: fold === null ? settingDir(dir, smoothing) : join(settingDir(dir, smoothing), `fold-${fold}`),
      };
      log(`\n== label smoothing ${smoothing}${seedNote}: ${cfg.out}`);
      const resume = o.resume === true && existsSync(join(cfg.out, 'last.safetensors'));
      if (resume) log('(resumed: the run continues from its last checkpoint, or is kept as it is when it had finished)');
      const run = await train(cfg, { log, tty: o.tty, signal: o.signal, dist: ctx, overwrite: o.overwrite, resume });
      if (run.status === 'interrupted') {
        run.model.dispose();
        throw new Error(`interrupted during the run with smoothing ${smoothing}${seedNote}: continue the comparison with the same command and --resume`);
      }
      classNames = run.data.vocab.classes;
      sizes = `${run.data.train.length} training and ${run.data.val.length} validation images`;
      recipe = run.data.recipe.description;
      if (!images && seed === seeds[0])
        images = galleryImages(
          fold === null ? run.data.val : plans.get(seed)!.dataset,
          fold === null ? null : plans.get(seed)!.original,
          config.labelNoise > 0,
        );
      try {
        const a = await analyseRun(run.model, run.data.val, run.data.evalPipeline, cfg, run.plan, classes, ctx);
        classes ??= a.projection?.classes ?? null; // the first setting's choice holds for all
        // The out-of-fold probabilities are the best checkpoint's, as lsr train --folds writes them.
        if (fold !== null) {
          const key = settingDir(dir, smoothing);
          heldOut.set(key, [...(heldOut.get(key) ?? []), await predictHeldOut(plans.get(seed)!, fold, cfg.out, ctx)]);
        }
        return { smoothing, seed, fold, status: run.status, out: cfg.out, epochs: run.epochs, ...a, plan: run.plan };
      } finally {
        run.model.dispose();
      }
    },
    { folds },
  );
  const outOfFold = folds
    ? seeds.flatMap((seed) =>
        smoothings.map((smoothing) => {
          const dir = settingDir(seeds.length > 1 ? join(config.out, `seed-${seed}`) : config.out, smoothing);
          return { ...writeOutOfFold(dir, { ...config, seed, smoothing }, plans.get(seed)!, heldOut.get(dir)!, ctx), seed, smoothing, dir };
        }),
      )
    : [];
  const { aggregate, differences } = summariseSeeds(runs, smoothings, seeds, folds);
  const result = {
    smoothings,
    seeds,
    runs,
    classes: classNames,
    aggregate,
    differences,
    readings: readings({ labelNoise: config.labelNoise, seeds, folds, aggregate, differences }),
    report: join(config.out, 'report.html'),
    folds,
    outOfFold,
  };
  // Rank 0 alone writes the report.
  if (lead)
    await writeComparisonReport(config.out, {
      config,
      smoothings,
      seeds,
      folds,
      runs,
      aggregate,
      differences,
      classNames,
      sizes,
      recipe,
      title: o.title,
      outOfFold,
      images: images ?? undefined,
      gallery: o.gallery,
    });
  return result;
}

/** Each image by name, with its label before --label-noise when the noise reached these labels (the held-out folds'). */
function galleryImages(images: SampleList, original: readonly number[] | null, noisy: boolean): Map<string, GalleryImage> {
  return new Map(images.samples.map((s, i) => [s.name, { source: s.source, ...(original && noisy ? { original: original[i]! } : {}) }]));
}
