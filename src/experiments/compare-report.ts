// A comparison's report: the figures (accuracy curves, reliability diagrams, feature norms,
// projections) under figures/, report.html (the setting, the tables, what the runs show) and
// summary.json, written by rank 0 into the comparison's folder.
import { join } from 'node:path';
import { binomialHalfWidth, seedBand } from '../eval/index.js';
import { writeFileAtomic } from '../io/index.js';
import { type Section, accuracyCurves, barChart, projectionScatter, reliabilityDiagram, settingColors, sharedDomain, writeReport } from '../report/index.js';
import { type TrainConfig, describePrecision } from '../train/index.js';
import type { ComparisonRun, SeedDifference, SeedSummary } from './analysis.js';
import { type WrittenFigure, writeFigure } from './figures.js';
import { formatMetric, formatSpread, readings, replicatesText } from './prose.js';

/** The report's default title. */
export const COMPARISON_TITLE = 'lsr: hard labels against label smoothing';

/** Fewer validation images of a class than this on the projection plane: a warning instead of a picture. */
const MIN_PROJECTION_POINTS = 5;

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

/** What the report is written from. */
export interface ComparisonReportInput {
  /** The comparison's configuration, as given (its --lr 0 stays "0": the runs' plans hold the rate used). */
  config: TrainConfig;
  smoothings: readonly number[];
  seeds: readonly number[];
  /** --folds K (0 or absent: none): each seed's runs are K folds; the first seed's fold 0 gives the per-run table and figures. */
  folds?: number;
  /** Every run, seed by seed; the first seed's runs give the per-run table and figures. */
  runs: readonly ComparisonRun[];
  aggregate: readonly SeedSummary[];
  differences: readonly SeedDifference[];
  /** The data's class names, by index. */
  classNames: readonly string[];
  /** "54000 training and 6000 validation images". */
  sizes: string;
  /** The images' recipe in words. */
  recipe: string;
  title?: string;
}

/** Writes `dir`/report.html, its figures and summary.json; returns the report's path. */
export async function writeComparisonReport(dir: string, o: ComparisonReportInput): Promise<string> {
  const report = join(dir, 'report.html');
  writeReport(report, o.title ?? COMPARISON_TITLE, comparisonSections(o, await writeComparisonFigures(dir, o)));
  const runs = o.runs.map((r) => ({
    smoothing: r.smoothing,
    seed: r.seed,
    ...(r.fold === null ? {} : { fold: r.fold }),
    status: r.status,
    epochs: r.epochs,
    metrics: r.metrics,
    temperature: r.temperature,
    calibrated: r.calibrated,
    featureNorm: r.featureNorm,
    projectionClasses: r.projection?.classes.map((k) => o.classNames[k]),
  }));
  // One seed: the runs, as before; several: the runs, and the statistics over the seeds.
  writeFileAtomic(
    join(dir, 'summary.json'),
    `${JSON.stringify(several(o) ? { seeds: o.seeds, ...(o.folds ? { folds: o.folds } : {}), runs, aggregate: o.aggregate, differences: o.differences } : runs, null, 2)}\n`,
  );
  return report;
}

/** The figures under `dir`/figures, and the notes that stand for projections too sparse to draw. */
interface ComparisonFigures {
  curves: WrittenFigure;
  reliability: WrittenFigure[];
  norms: WrittenFigure;
  projections: WrittenFigure[];
  projectionNotes: string[];
}

/** The first seed's runs (its fold 0 with --folds): the per-run table and figures are theirs. */
const firstSeed = (o: ComparisonReportInput) => o.runs.filter((r) => r.seed === o.seeds[0] && (r.fold ?? 0) === 0);
/** Several runs per setting: over seeds, or folds, or both. */
const several = (o: ComparisonReportInput) => o.seeds.length > 1 || (o.folds ?? 0) >= 2;
/** "3 seeds (0, 1, 2)", "5 folds", "2 seeds (0, 1) × 5 folds". */
const over = (o: ComparisonReportInput) =>
  (o.folds ?? 0) >= 2
    ? replicatesText(o.seeds.length, o.folds).replace(/seeds/, `seeds (${o.seeds.join(', ')})`)
    : `${o.seeds.length} seeds (${o.seeds.join(', ')})`;
/** ", seed 0" or ", seed 0, fold 0": whose figures the per-run ones are. */
const firstRun = (o: ComparisonReportInput) => `, seed ${o.seeds[0]}${(o.folds ?? 0) >= 2 ? ', fold 0' : ''}`;

/** Draws and writes the figures: accuracy curves, a reliability diagram per setting, the feature norms, the projections. */
async function writeComparisonFigures(dir: string, o: ComparisonReportInput): Promise<ComparisonFigures> {
  const { smoothings, aggregate, classNames } = o;
  const all = o.runs;
  const multi = several(o);
  const results = firstSeed(o);
  // One colour per ε in every chart.
  const colors = settingColors(smoothings.map(String));
  const colorOf = (eps: number) => colors.range[smoothings.indexOf(eps)]!;
  // One seed: each run's curves; several: the mean over the seeds with a band of ± one sd.
  const curveRows = multi
    ? smoothings.flatMap((eps) => {
        const runs = all.filter((r) => r.smoothing === eps);
        return (['train', 'val'] as const).flatMap((split) =>
          seedBand(runs.map((r) => r.epochs.map((e) => (split === 'train' ? e.trainAccuracy : e.valAccuracy!)))).map((b, e) => ({
            setting: String(eps),
            epoch: e + 1,
            split,
            accuracy: b.mean,
            lo: b.lo,
            hi: b.hi,
          })),
        );
      })
    : all.flatMap((r) =>
        r.epochs.flatMap((e) => [
          { setting: String(r.smoothing), epoch: e.epoch, split: 'train' as const, accuracy: e.trainAccuracy },
          { setting: String(r.smoothing), epoch: e.epoch, split: 'val' as const, accuracy: e.valAccuracy! },
        ]),
      );
  const curves = await writeFigure(
    dir,
    'accuracy',
    accuracyCurves(curveRows, colors),
    multi
      ? `Train (dashed) and validation accuracy per epoch: the mean over ${over(o)}, the band ± one standard deviation`
      : 'Train (dashed) and validation accuracy per epoch',
  );
  const reliability = [];
  for (const r of results)
    reliability.push(
      await writeFigure(
        dir,
        `reliability-${r.smoothing}`,
        reliabilityDiagram(`ε = ${r.smoothing}: ECE ${pct(r.metrics.ece)}`, r.metrics.bins, colorOf(r.smoothing)),
        `Reliability, label smoothing ${r.smoothing}${multi ? firstRun(o) : ''}: accuracy per confidence bin (15 bins), the gap to the bin's mean confidence in red, the number of images per bin above`,
      ),
    );
  const norms = await writeFigure(
    dir,
    'feature-norms',
    barChart(
      'Mean penultimate feature norm',
      aggregate.map((a) => ({ setting: String(a.smoothing), value: a.featureNorm.mean, ...(multi ? { sd: a.featureNorm.sd } : {}) })),
      'mean ‖h‖',
      colors,
    ),
    multi
      ? `Mean L2 norm of the penultimate activations (validation), mean over ${over(o)}, the bar ± one standard deviation`
      : 'Mean L2 norm of the penultimate activations (validation)',
  );
  // The projection needs enough points of each class to show a cluster; too few gives a warning, not a picture.
  const name = (k: number) => classNames[k] ?? String(k);
  const projectionNotes: string[] = [];
  const drawable = results.filter((r) => {
    if (!r.projection) return false;
    const counts = r.projection.classes.map((k) => r.projection!.points.filter((p) => p.label === k).length);
    const few = r.projection.classes.filter((_, i) => counts[i]! < MIN_PROJECTION_POINTS);
    if (few.length)
      projectionNotes.push(
        `No projection for ε = ${r.smoothing}: ${few.map((k) => `class ${name(k)} has ${counts[r.projection!.classes.indexOf(k)]} validation image${counts[r.projection!.classes.indexOf(k)] === 1 ? '' : 's'}`).join(', ')}, fewer than ${MIN_PROJECTION_POINTS}, too few to show a cluster.`,
      );
    return few.length === 0;
  });
  const domain = sharedDomain(drawable.map((r) => [...r.projection!.points, ...r.projection!.templates.map(([x, y]) => ({ x, y }))]));
  const projections = [];
  for (const r of drawable) {
    const p = r.projection!;
    projections.push(
      await writeFigure(
        dir,
        `projection-${r.smoothing}`,
        projectionScatter(
          `ε = ${r.smoothing}`,
          p.points.map((q) => ({ x: q.x, y: q.y, cls: name(q.label) })),
          p.templates.map(([x, y], i) => ({ x, y, cls: name(p.classes[i]!) })),
          domain,
        ),
        `Penultimate activations of ${p.classes.map(name).join(', ')} (validation) on the plane of their templates (diamonds), the same scale in every panel`,
      ),
    );
  }
  return { curves, reliability, norms, projections, projectionNotes };
}

/** The report's sections: the setting, the statistics over seeds, the results, the readings, calibration and the penultimate layer. */
function comparisonSections(o: ComparisonReportInput, { curves, reliability, norms, projections, projectionNotes }: ComparisonFigures): Section[] {
  const { config, smoothings, seeds, aggregate, differences } = o;
  const multi = several(o);
  const results = firstSeed(o);
  // What the runs were trained with, as their plan decided it (a data-parallel run's auto is the CPU).
  const precision = describePrecision(o.runs[0]!.plan, config.precision);
  const valCount = results[0]!.metrics.count;
  const valHalfWidth = binomialHalfWidth(results[0]!.metrics.accuracy, valCount);

  return [
    {
      heading: 'Setting',
      text: [
        `Data ${config.data} (${o.sizes}), model ${config.model}, ${config.epochs} epochs, batch ${config.batchSize}, ${config.optimizer} lr ${config.lr} (${config.scheduler}), seed ${config.seed}` +
          `${config.labelNoise ? `, label noise ${config.labelNoise}` : ''}${config.limitPerClass ? `, at most ${config.limitPerClass} training images per class` : ''}. ` +
          'Every setting starts from the same weights and sees the same batches in the same order; only the label smoothing differs.',
        `Images: ${o.recipe}. Weight decay ${config.weightDecay}${config.optimizer === 'sgd' ? `, momentum ${config.momentum}` : ''}, precision ${precision}` +
          `${config.ema > 0 ? `, EMA of the weights (decay ${config.ema})` : ''}${config.labelNoise ? `; ${(config.labelNoise * 100).toFixed(0)}% of the training labels replaced by other classes, ${o.folds ? 'the held-out folds carrying the same replaced labels (applied once to the whole set, before the folds)' : 'the validation labels clean'}` : ''}.`,
        `Every table and figure measures each run's model at the end of training (epoch ${config.epochs}${config.ema > 0 ? ', its weight average' : ''}) on the validation split, ` +
          'not best.safetensors (the epoch of best validation accuracy, which lsr eval and lsr predict use): choosing the best epoch on the set that scores it would flatter it.',
        `The validation split has ${valCount} images: an accuracy measured on it is uncertain by about ±${(valHalfWidth * 100).toFixed(1)} points (95%)` +
          `${valHalfWidth > 0.02 ? '. That is a small set: a difference between settings smaller than this is not to be read from one run' : ''}.`,
      ],
    },
    ...(multi
      ? [
          {
            heading: `Over ${over(o)}`,
            text: [
              (o.folds
                ? 'Mean ± sample standard deviation over the folds (each fold holds out other images; within a fold, the settings share initial weights, data and batch order). '
                : 'Mean ± sample standard deviation over the seeds (each seed draws other initial weights, split and batch order; within a seed, the settings share them). ') +
                `Differences are paired by ${o.folds ? 'seed and fold' : 'seed'}, against ε = ${smoothings[0]}, with a 95% Student-t interval: a difference whose interval holds 0 is inside the noise.`,
            ],
            tables: [
              {
                header: ['label smoothing', 'val accuracy', 'NLL', 'ECE', 'ECE after scaling (in-sample)', 'mean feature norm'],
                rows: aggregate.map((a) => [
                  a.smoothing,
                  formatSpread('accuracy', a.accuracy),
                  formatSpread('nll', a.nll),
                  formatSpread('ece', a.ece),
                  formatSpread('calibratedEce', a.calibratedEce),
                  formatSpread('featureNorm', a.featureNorm),
                ]),
              },
              {
                header: ['setting', 'metric', 'difference', '95% interval', 'reading'],
                rows: differences.map((d) => [
                  `ε = ${d.smoothing} − ε = ${d.baseline}`,
                  d.metric,
                  formatMetric(d.metric, d.difference.mean, true),
                  d.difference.ci ? `${formatMetric(d.metric, d.difference.ci[0], true)} to ${formatMetric(d.metric, d.difference.ci[1], true)}` : '—',
                  d.difference.insideNoise ? 'inside the noise' : 'beyond the noise',
                ]),
              },
            ],
          },
        ]
      : []),
    {
      heading: multi ? `Results${firstRun(o)}` : 'Results',
      tables: [
        {
          header: ['label smoothing', 'val accuracy', 'top-5', 'NLL', 'ECE', 'temperature', 'ECE after scaling*', 'NLL after scaling*', 'mean feature norm'],
          rows: results.map((r) => [
            r.smoothing,
            pct(r.metrics.accuracy),
            pct(r.metrics.top5),
            r.metrics.nll.toFixed(4),
            pct(r.metrics.ece),
            r.temperature.toFixed(3),
            pct(r.calibrated.ece),
            r.calibrated.nll.toFixed(4),
            r.featureNorm.toFixed(3),
          ]),
        },
      ],
      text: [
        '* Temperature scaling is fitted on the validation split it is scored on (in-sample): it shows what one parameter can repair, and flatters the calibrated ECE and NLL a little.',
      ],
      figures: [curves],
    },
    { heading: 'What these runs show', text: [readings({ labelNoise: config.labelNoise, seeds, folds: o.folds, aggregate, differences }).join(' ')] },
    {
      heading: 'Calibration',
      text: [
        `Reliability diagrams of the validation set before temperature scaling (Guo et al. 2017)${multi ? firstRun(o) : ''}: a bar per confidence bin rises to the accuracy of its images; ` +
          'the red part is the gap to their mean confidence (below the diagonal: over-confident; above: under-confident); ECE is the gap averaged over the images. The temperature is fitted on the same set by minimising NLL (in-sample).',
      ],
      figures: reliability,
    },
    {
      heading: 'Penultimate layer',
      text: [
        'Müller, Kornblith & Hinton (2019) describe label smoothing pulling each class into a tight cluster equidistant from the other templates, and lowering the feature norm; ' +
          `here the mean norm went ${aggregate.map((a) => `${formatMetric('featureNorm', a.featureNorm.mean)} (ε = ${a.smoothing})`).join(' → ')}${multi ? `, averaged over ${over(o)}` : ''}. ` +
          `The projections${multi ? ` are of${firstRun(o).slice(1)}: they` : ''} show the validation activations of three classes (the most confused triple unless --classes names them) on the plane through their three templates (the head's weight rows), with equal axes and one scale for every panel, so that spreads and distances compare.`,
        ...projectionNotes,
      ],
      figures: [norms, ...projections],
    },
  ];
}
