// What a comparison measures: a trained model's validation outputs turned into metrics,
// temperature, feature norm and the penultimate-layer projection; then statistics over seeds
// (mean ± sd per setting, differences paired by seed).
import type * as data from '../data/index.js';
import type { DistContext } from '../distributed/index.js';
import { tidy } from '../engine/index.js';
import {
  type ImagePrediction,
  type Metrics,
  type PairedDifference,
  type Projection,
  type Spread,
  chooseProjectionClasses,
  classificationMetrics,
  confusion,
  fitTemperature,
  imagePredictions,
  meanFeatureNorm,
  pairedDifference,
  spread,
  templateProjection,
} from '../eval/index.js';
import { type Classifier, type EpochMetrics, type RunPlan, type TrainConfig, type TrainResult, Placement, collectOutputs } from '../train/index.js';

/** A model measured on the validation split, as a comparison's tables and figures read it. */
export interface RunAnalysis {
  metrics: Metrics;
  /** The temperature that minimises the validation NLL (fitted on the split it is scored on). */
  temperature: number;
  /** The metrics after dividing the logits by `temperature`. */
  calibrated: Metrics;
  /** The mean L2 norm of the penultimate activations. */
  featureNorm: number;
  /** Three classes' activations on the plane of their templates; null with fewer than three classes. */
  projection: Projection | null;
  /** The confusion matrix (true class × predicted). */
  matrix: number[][];
  /** Each validation image's predicted class and its probability, in the split's order (the report's pictures of the mistakes). */
  predictions: ImagePrediction[];
}

/** One run of a comparison: a setting (ε) and a seed, trained, then measured at its last epoch. */
export interface ComparisonRun extends RunAnalysis {
  smoothing: number;
  seed: number;
  /** The fold the run held out (compare --folds), or null. */
  fold: number | null;
  status: TrainResult['status'];
  /** The run's folder. */
  out: string;
  /** metrics.jsonl's epochs. */
  epochs: EpochMetrics[];
  /** The decisions the run was made with (device, precision, batch, rate). */
  plan: RunPlan;
}

/**
 * Measures `model` on `val`: metrics, the fitted temperature and the metrics after it, the feature
 * norm, the confusion matrix, each image's prediction and the projection of `classes` (by default the most confused triple).
 * In a data-parallel run every rank takes part (the outputs are gathered in dataset order).
 */
export async function analyseRun(
  model: Classifier,
  val: data.SampleList,
  pipeline: data.Pipeline,
  config: TrainConfig,
  plan: RunPlan,
  classes: [number, number, number] | null,
  ctx: DistContext | null,
): Promise<RunAnalysis> {
  const loader = new Placement(plan, ctx).evalLoader(val, config, pipeline);
  const out = await collectOutputs(model, loader, plan.precision, ctx);
  await loader.close();
  try {
    const metrics = classificationMetrics(out.logits, out.labels);
    const temperature = fitTemperature(out.logits, out.labels);
    const calibrated = classificationMetrics(out.logits, out.labels, { temperature });
    const featureNorm = meanFeatureNorm(out.features);
    const { matrix } = confusion(out.logits, out.labels, val.vocab.size);
    const chosen = classes ?? (val.vocab.size >= 3 ? chooseProjectionClasses(matrix) : null);
    const projection = chosen ? tidy(() => templateProjection(model.fc.weight, out.features, out.labels, chosen)) : null;
    const predictions = imagePredictions(
      out.logits,
      out.labels,
      out.indices.map((i) => val.sample(i).name),
    );
    return { metrics, temperature, calibrated, featureNorm, projection, matrix, predictions };
  } finally {
    for (const t of [out.logits, out.features, out.labels]) t.dispose();
  }
}

/** A setting's metrics over seeds. */
export interface SeedSummary {
  smoothing: number;
  accuracy: Spread;
  nll: Spread;
  ece: Spread;
  calibratedEce: Spread;
  featureNorm: Spread;
}

/** A setting against the first (the baseline, usually hard labels), seed by seed. */
export interface SeedDifference {
  smoothing: number;
  baseline: number;
  metric: 'accuracy' | 'nll' | 'ece' | 'featureNorm';
  difference: PairedDifference;
}

type Measured = Pick<ComparisonRun, 'smoothing' | 'seed' | 'metrics' | 'calibrated' | 'featureNorm'> & { fold?: number | null };

const METRICS = {
  accuracy: (r: Measured) => r.metrics.accuracy,
  nll: (r: Measured) => r.metrics.nll,
  ece: (r: Measured) => r.metrics.ece,
  featureNorm: (r: Measured) => r.featureNorm,
} as const;

/**
 * Mean ± sd of each setting over the seeds (× the folds, with --folds K: a fold is a replicate like
 * a seed), and each setting's paired difference from the first, paired by seed and fold.
 */
export function summariseSeeds(
  results: readonly Measured[],
  smoothings: readonly number[],
  seeds: readonly number[],
  folds = 0,
): { aggregate: SeedSummary[]; differences: SeedDifference[] } {
  const foldList = folds >= 2 ? Array.from({ length: folds }, (_, k) => k) : [null];
  const runsOf = (eps: number) =>
    seeds.flatMap((s) => foldList.map((k) => results.find((r) => r.smoothing === eps && r.seed === s && (r.fold ?? null) === k)!));
  const aggregate = smoothings.map((eps) => {
    const runs = runsOf(eps);
    return {
      smoothing: eps,
      accuracy: spread(runs.map(METRICS.accuracy)),
      nll: spread(runs.map(METRICS.nll)),
      ece: spread(runs.map(METRICS.ece)),
      calibratedEce: spread(runs.map((r) => r.calibrated.ece)),
      featureNorm: spread(runs.map(METRICS.featureNorm)),
    };
  });
  const base = runsOf(smoothings[0]!);
  const differences = smoothings.slice(1).flatMap((eps) =>
    (Object.keys(METRICS) as Array<keyof typeof METRICS>).map((metric) => ({
      smoothing: eps,
      baseline: smoothings[0]!,
      metric,
      difference: pairedDifference(base.map(METRICS[metric]), runsOf(eps).map(METRICS[metric])),
    })),
  );
  return { aggregate, differences };
}

/** One run of a distillation: a teacher trained with label smoothing `smoothing` (0: hard labels), or its student. */
export interface DistillationRun {
  role: 'teacher' | 'student';
  /** The teacher's label smoothing (a student trains on hard labels). */
  smoothing: number;
  /** The grid's seed (a student trains with its teacher's seed + 1). */
  seed: number;
  /** The run's folder. */
  out: string;
  epochs: EpochMetrics[];
  /** The last epoch's validation accuracy, NLL and ECE. */
  accuracy: number;
  nll: number;
  ece: number;
  plan: RunPlan;
}

/** A teacher or student setting over the seeds. */
export interface DistillationSetting {
  role: DistillationRun['role'];
  smoothing: number;
  /** "teacher ε = 0.1", "student of teacher ε = 0.1". */
  label: string;
  accuracy: Spread;
  nll: Spread;
  ece: Spread;
  /** Its runs, seed by seed. */
  runs: DistillationRun[];
}

/** The distillation's settings (hard-label teacher, smoothed teacher, then their students) and the smoothed minus the hard-label one's accuracy, paired by seed. */
export function summariseDistillation(
  runs: readonly DistillationRun[],
  smoothing: number,
  seeds: readonly number[],
): { settings: DistillationSetting[]; teacherDifference: PairedDifference; studentDifference: PairedDifference } {
  const of = (role: DistillationRun['role'], eps: number) => seeds.map((s) => runs.find((r) => r.role === role && r.smoothing === eps && r.seed === s)!);
  const settings = (['teacher', 'student'] as const).flatMap((role) =>
    [0, smoothing].map((eps) => {
      const own = of(role, eps);
      return {
        role,
        smoothing: eps,
        label: role === 'teacher' ? `teacher ε = ${eps}` : `student of teacher ε = ${eps}`,
        accuracy: spread(own.map((r) => r.accuracy)),
        nll: spread(own.map((r) => r.nll)),
        ece: spread(own.map((r) => r.ece)),
        runs: own,
      };
    }),
  );
  const accuracyDifference = (role: DistillationRun['role']) =>
    pairedDifference(
      of(role, 0).map((r) => r.accuracy),
      of(role, smoothing).map((r) => r.accuracy),
    );
  return { settings, teacherDifference: accuracyDifference('teacher'), studentDifference: accuracyDifference('student') };
}
