// The seed's experiment: the same run for each label-smoothing value, then the comparison report
// (accuracy curves, calibration before and after temperature scaling, feature norms, and the
// penultimate-layer projection of Müller et al. 2019).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type * as data from '../data/index.js';
import { BadInputError, tidy } from '../engine/index.js';
import {
  type PairedDifference,
  type Spread,
  chooseProjectionClasses,
  pairedDifference,
  spread,
  binomialHalfWidth,
  seedBand,
  classificationMetrics,
  confusion,
  fitTemperature,
  meanFeatureNorm,
  templateProjection,
} from '../eval/index.js';
import type { Metrics, Projection } from '../eval/index.js';
import { withFolderLock, writeFileAtomic } from '../io/index.js';
import {
  type Section,
  type Spec,
  accuracyCurves,
  barChart,
  projectionScatter,
  reliabilityDiagram,
  render,
  settingColors,
  sharedDomain,
  writeReport,
} from '../report/index.js';
import type { DistContext } from '../distributed/index.js';
import {
  type Classifier,
  type EpochMetrics,
  type RunPlan,
  type TrainConfig,
  collectOutputs,
  describePrecision,
  evalLoader,
  feedFor,
  loadDataset,
  train,
} from '../train/index.js';

export interface SettingResult {
  smoothing: number;
  seed: number;
  status: string;
  epochs: EpochMetrics[];
  metrics: Metrics;
  temperature: number;
  calibrated: Metrics;
  featureNorm: number;
  projection: Projection | null;
  matrix: number[][];
}

/** Writes a figure as SVG and PNG under `dir`; returns what the HTML report embeds. */
async function figure(dir: string, name: string, spec: Spec, caption: string) {
  const { svg, png } = await render(spec);
  writeFileAtomic(join(dir, 'figures', `${name}.svg`), svg);
  writeFileAtomic(join(dir, 'figures', `${name}.png`), png);
  writeFileAtomic(join(dir, 'figures', `${name}.vl.json`), JSON.stringify(spec));
  return { svg, caption, files: [`figures/${name}.svg`, `figures/${name}.png`] };
}

/** Validation outputs of a trained model: metrics, temperature scaling, feature norm, projection. */
async function analyse(
  model: Classifier,
  val: data.SampleList,
  pipeline: data.Pipeline,
  config: TrainConfig,
  plan: RunPlan,
  classes: [number, number, number] | null,
  ctx: DistContext | null,
) {
  const { normalizer, ...feed } = feedFor(plan.device, pipeline);
  const loader = evalLoader(val, config, pipeline, ctx, feed);
  const out = await collectOutputs(model, loader, plan.precision, ctx, { normalizer });
  await loader.close();
  normalizer?.dispose();
  try {
    const metrics = classificationMetrics(out.logits, out.labels);
    const temperature = fitTemperature(out.logits, out.labels);
    const calibrated = classificationMetrics(out.logits, out.labels, { temperature });
    const featureNorm = meanFeatureNorm(out.features);
    const { matrix } = confusion(out.logits, out.labels, val.vocab.size);
    const chosen = classes ?? (val.vocab.size >= 3 ? chooseProjectionClasses(matrix) : null);
    const projection = chosen ? tidy(() => templateProjection(model.fc.weight, out.features, out.labels, chosen)) : null;
    return { metrics, temperature, calibrated, featureNorm, projection, matrix };
  } finally {
    for (const t of [out.logits, out.features, out.labels]) t.dispose();
  }
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

/** Fewer validation images of a class than this on the projection plane: a warning instead of a picture. */
const MIN_PROJECTION_POINTS = 5;

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

const METRICS = {
  accuracy: (r: SettingResult) => r.metrics.accuracy,
  nll: (r: SettingResult) => r.metrics.nll,
  ece: (r: SettingResult) => r.metrics.ece,
  featureNorm: (r: SettingResult) => r.featureNorm,
} as const;

/** Mean ± sd of each setting over the seeds, and each setting's paired difference from the first. */
export function summariseSeeds(results: SettingResult[], smoothings: number[], seeds: number[]): { aggregate: SeedSummary[]; differences: SeedDifference[] } {
  const runsOf = (eps: number) => seeds.map((s) => results.find((r) => r.smoothing === eps && r.seed === s)!);
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

/** A metric's value for a table: accuracy and ECE in points, the others as they are. */
export function formatMetric(metric: SeedDifference['metric'] | 'calibratedEce', v: number, signed = false): string {
  const points = metric === 'accuracy' || metric === 'ece' || metric === 'calibratedEce';
  const text = points ? (v * 100).toFixed(2) : v.toFixed(metric === 'featureNorm' ? 3 : 4);
  return `${signed && v >= 0 ? '+' : ''}${text}${points ? (signed ? ' pt' : '%') : ''}`;
}

const meanSd = (metric: Parameters<typeof formatMetric>[0], s: Spread) =>
  s.n > 1 ? `${formatMetric(metric, s.mean)} ± ${formatMetric(metric, s.sd).replace('%', '')}` : formatMetric(metric, s.mean);

/** What a paired difference says about a claim that predicts its sign (claimSign). */
export function claimVerdict(d: PairedDifference, claimSign: 1 | -1, claim: string): string {
  if (d.ci === null) return `one seed cannot tell this from seed-to-seed variation, so it says nothing about ${claim}`;
  if (d.insideNoise) return `inside the noise: these runs neither support nor contradict ${claim}`;
  return Math.sign(d.mean) === claimSign ? `beyond the noise: these runs support ${claim}` : `beyond the noise, the other way: these runs contradict ${claim}`;
}

/**
 * What the runs show about the seed's claims, sentence by sentence, from their numbers: accuracy
 * (under label noise, robustness), calibration and the feature norm, each with its interval and
 * whether it is inside the noise of the seeds.
 */
export function readings(o: { labelNoise: number; seeds: number[]; aggregate: SeedSummary[]; differences: SeedDifference[] }): string[] {
  const out: string[] = [];
  const base = o.aggregate[0]!;
  const n = o.seeds.length;
  const of = (eps: number, metric: SeedDifference['metric']) => o.differences.find((d) => d.smoothing === eps && d.metric === metric)!;
  const mean = (metric: Parameters<typeof formatMetric>[0], s: Spread) => formatMetric(metric, s.mean);
  const interval = (d: SeedDifference) =>
    d.difference.ci
      ? `95% CI ${formatMetric(d.metric, d.difference.ci[0], true)} to ${formatMetric(d.metric, d.difference.ci[1], true)} over ${n} seeds`
      : 'one seed, no interval';
  const verdict = (d: SeedDifference, claimSign: 1 | -1, claim: string) => claimVerdict(d.difference, claimSign, claim);
  for (const a of o.aggregate.slice(1)) {
    const eps = a.smoothing;
    const acc = of(eps, 'accuracy');
    const ece = of(eps, 'ece');
    const norm = of(eps, 'featureNorm');
    const noisy = o.labelNoise > 0;
    out.push(
      `${noisy ? `With ${(o.labelNoise * 100).toFixed(0)}% of the training labels replaced by other classes (the validation labels are clean), ` : ''}` +
        `ε = ${eps} ${acc.difference.mean >= 0 ? 'raised' : 'lowered'} validation accuracy from ${mean('accuracy', base.accuracy)} to ${mean('accuracy', a.accuracy)} ` +
        `(${formatMetric('accuracy', acc.difference.mean, true)}, ${interval(acc)}): ` +
        `${verdict(acc, 1, noisy ? 'the claim that label smoothing makes training robust to label noise' : 'a gain in accuracy from label smoothing')}.`,
    );
    out.push(
      `Its ECE went from ${mean('ece', base.ece)} to ${mean('ece', a.ece)} (${formatMetric('ece', ece.difference.mean, true)}, ${interval(ece)}): ` +
        `${verdict(ece, -1, 'the claim that label smoothing improves calibration')}; after temperature scaling, ${mean('calibratedEce', base.calibratedEce)} against ${mean('calibratedEce', a.calibratedEce)}.`,
    );
    out.push(
      `The mean penultimate feature norm went from ${mean('featureNorm', base.featureNorm)} to ${mean('featureNorm', a.featureNorm)} ` +
        `(${formatMetric('featureNorm', norm.difference.mean, true)}, ${interval(norm)}): ${verdict(norm, -1, "Müller et al.'s observation that label smoothing lowers it")}.`,
    );
  }
  return out;
}

/** A difference in words: its mean, 95% interval and whether it is inside the noise. */
export function describeDifference(d: SeedDifference): string {
  const f = (v: number) => formatMetric(d.metric, v, true);
  const ci = d.difference.ci ? ` (95% CI ${f(d.difference.ci[0])} to ${f(d.difference.ci[1])}, ${d.difference.n} seeds)` : ' (one seed: no interval)';
  return `${f(d.difference.mean)}${ci}: ${d.difference.insideNoise ? 'inside the noise' : 'beyond the noise'}`;
}

/**
 * The comparison with its --out locked for its life (by rank 0; each run also locks its own
 * folder): two comparisons into one folder would mix their runs and reports.
 */
export async function runComparison(config: TrainConfig, smoothings: number[], o: Parameters<typeof compareRuns>[2]): ReturnType<typeof compareRuns> {
  if (o.dist && o.dist.rank !== 0) return compareRuns(config, smoothings, o);
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  return withFolderLock(config.out, `--out ${config.out}`, log, () => compareRuns(config, smoothings, o));
}

async function compareRuns(
  config: TrainConfig,
  smoothings: number[],
  o: {
    classes?: string[];
    log?: (line: string) => void;
    tty?: boolean;
    signal?: AbortSignal;
    title?: string;
    dist?: DistContext | null;
    overwrite?: boolean;
    /** Continue an interrupted comparison: a run whose folder holds a checkpoint resumes (a finished one is kept as it is). */
    resume?: boolean;
    /** Each setting trained once per seed (default: the config's seed alone). */
    seeds?: number[];
  },
): Promise<{ results: SettingResult[]; report: string; aggregate: SeedSummary[]; differences: SeedDifference[] }> {
  const seeds = o.seeds ?? [config.seed];
  if (seeds.length === 0 || new Set(seeds).size !== seeds.length) throw new BadInputError(`--seeds must name distinct seeds, got ${seeds.join(',')}`);
  // Each value is a run folder (smoothing-ε): a value twice would find the first run's folder taken.
  if (smoothings.length === 0 || new Set(smoothings).size !== smoothings.length)
    throw new BadInputError(`--smoothing must name distinct values, got ${smoothings.join(',')}`);
  const ctx = o.dist ?? null;
  const lead = !ctx || ctx.rank === 0;
  const log = lead ? (o.log ?? ((l: string) => process.stderr.write(`${l}\n`))) : () => {};
  if (config.valFraction === 0) throw new BadInputError('--val-fraction 0: a comparison measures every setting on the validation split; give a fraction > 0');
  if (lead) mkdirSync(config.out, { recursive: true });
  let results: SettingResult[] = [];
  let classes: [number, number, number] | null = null;
  // --classes is checked against the data's labels before any training.
  if (o.classes) {
    if (o.classes.length !== 3) throw new BadInputError(`--classes needs three class names, got ${o.classes.length}`);
    const { vocab } = loadDataset(config.data, { skipBadImages: config.skipBadImages, allowOutside: config.allowOutsidePaths }).dataset;
    classes = o.classes.map((c) => vocab.index(c, '--classes')) as [number, number, number];
  }
  let classNames: readonly string[] = [];
  let plan: RunPlan | null = null;
  let sizes = '';
  let recipe = '';
  for (const [smoothing, seed] of seeds.flatMap((s) => smoothings.map((eps) => [eps, s] as const))) {
    // One seed: runs/NAME/smoothing-ε; several: runs/NAME/seed-S/smoothing-ε.
    const cfg = { ...config, seed, smoothing, out: join(config.out, ...(seeds.length > 1 ? [`seed-${seed}`] : []), `smoothing-${smoothing}`) };
    log(`\n== label smoothing ${smoothing}${seeds.length > 1 ? `, seed ${seed}` : ''}: ${cfg.out}`);
    const resume = o.resume === true && existsSync(join(cfg.out, 'last.safetensors'));
    if (resume) log('(resumed: the run continues from its last checkpoint, or is kept as it is when it had finished)');
    const run = await train(cfg, { log, tty: o.tty, signal: o.signal, dist: ctx, overwrite: o.overwrite, resume });
    if (run.status === 'interrupted')
      throw new Error(
        `interrupted during the run with smoothing ${smoothing}${seeds.length > 1 ? `, seed ${seed}` : ''}: continue the comparison with the same command and --resume`,
      );
    classNames = run.data.vocab.classes;
    sizes = `${run.data.train.length} training and ${run.data.val.length} validation images`;
    recipe = run.data.recipe.description;
    const a = await analyse(run.model, run.data.val, run.data.evalPipeline, cfg, run.plan, classes, ctx);
    plan ??= run.plan;
    classes ??= a.projection?.classes ?? null; // the first setting's choice holds for all
    results.push({ smoothing, seed, status: run.status, epochs: run.epochs, ...a });
    run.model.dispose();
  }

  const dir = config.out;
  const { aggregate, differences } = summariseSeeds(results, smoothings, seeds);
  // Rank 0 alone writes the report.
  if (!lead) return { results, report: join(dir, 'report.html'), aggregate, differences };
  const all = results;
  const multi = seeds.length > 1;
  // The per-run figures (reliability, projection) and the per-run table are the first seed's.
  results = all.filter((r) => r.seed === seeds[0]);
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
  const curves = await figure(
    dir,
    'accuracy',
    accuracyCurves(curveRows, colors),
    multi
      ? `Train (dashed) and validation accuracy per epoch: the mean over ${seeds.length} seeds (${seeds.join(', ')}), the band ± one standard deviation`
      : 'Train (dashed) and validation accuracy per epoch',
  );
  const reliability = [];
  for (const r of results)
    reliability.push(
      await figure(
        dir,
        `reliability-${r.smoothing}`,
        reliabilityDiagram(`ε = ${r.smoothing}: ECE ${pct(r.metrics.ece)}`, r.metrics.bins, colorOf(r.smoothing)),
        `Reliability, label smoothing ${r.smoothing}${multi ? `, seed ${seeds[0]}` : ''}: accuracy per confidence bin (15 bins), the gap to the bin's mean confidence in red, the number of images per bin above`,
      ),
    );
  const norms = await figure(
    dir,
    'feature-norms',
    barChart(
      'Mean penultimate feature norm',
      aggregate.map((a) => ({ setting: String(a.smoothing), value: a.featureNorm.mean, ...(multi ? { sd: a.featureNorm.sd } : {}) })),
      'mean ‖h‖',
      colors,
    ),
    multi
      ? `Mean L2 norm of the penultimate activations (validation), mean over ${seeds.length} seeds, the bar ± one standard deviation`
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
      await figure(
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
  // What the runs were trained with, as their plan decided it (a data-parallel run's auto is the CPU).
  const precision = describePrecision(plan!, config.precision);
  const valCount = results[0]!.metrics.count;
  const valHalfWidth = binomialHalfWidth(results[0]!.metrics.accuracy, valCount);

  const sections: Section[] = [
    {
      heading: 'Setting',
      text: [
        `Data ${config.data} (${sizes}), model ${config.model}, ${config.epochs} epochs, batch ${config.batchSize}, ${config.optimizer} lr ${config.lr} (${config.scheduler}), seed ${config.seed}` +
          `${config.labelNoise ? `, label noise ${config.labelNoise}` : ''}${config.limitPerClass ? `, at most ${config.limitPerClass} training images per class` : ''}. ` +
          'Every setting starts from the same weights and sees the same batches in the same order; only the label smoothing differs.',
        `Images: ${recipe}. Weight decay ${config.weightDecay}${config.optimizer === 'sgd' ? `, momentum ${config.momentum}` : ''}, precision ${precision}` +
          `${config.ema > 0 ? `, EMA of the weights (decay ${config.ema})` : ''}${config.labelNoise ? `; ${(config.labelNoise * 100).toFixed(0)}% of the training labels replaced by other classes, the validation labels clean` : ''}.`,
        `Every table and figure measures each run's model at the end of training (epoch ${config.epochs}${config.ema > 0 ? ', its weight average' : ''}) on the validation split, ` +
          'not best.safetensors (the epoch of best validation accuracy, which lsr eval and lsr predict use): choosing the best epoch on the set that scores it would flatter it.',
        `The validation split has ${valCount} images: an accuracy measured on it is uncertain by about ±${(valHalfWidth * 100).toFixed(1)} points (95%)` +
          `${valHalfWidth > 0.02 ? '. That is a small set: a difference between settings smaller than this is not to be read from one run' : ''}.`,
      ],
    },
    ...(multi
      ? [
          {
            heading: `Over ${seeds.length} seeds (${seeds.join(', ')})`,
            text: [
              'Mean ± sample standard deviation over the seeds (each seed draws other initial weights, split and batch order; within a seed, the settings share them). ' +
                `Differences are paired by seed, against ε = ${smoothings[0]}, with a 95% Student-t interval: a difference whose interval holds 0 is inside the noise.`,
            ],
            tables: [
              {
                header: ['label smoothing', 'val accuracy', 'NLL', 'ECE', 'ECE after scaling (in-sample)', 'mean feature norm'],
                rows: aggregate.map((a) => [
                  a.smoothing,
                  meanSd('accuracy', a.accuracy),
                  meanSd('nll', a.nll),
                  meanSd('ece', a.ece),
                  meanSd('calibratedEce', a.calibratedEce),
                  meanSd('featureNorm', a.featureNorm),
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
      heading: multi ? `Results, seed ${seeds[0]}` : 'Results',
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
    { heading: 'What these runs show', text: [readings({ labelNoise: config.labelNoise, seeds, aggregate, differences }).join(' ')] },
    {
      heading: 'Calibration',
      text: [
        `Reliability diagrams of the validation set before temperature scaling (Guo et al. 2017)${multi ? `, seed ${seeds[0]}` : ''}: a bar per confidence bin rises to the accuracy of its images; ` +
          'the red part is the gap to their mean confidence (below the diagonal: over-confident; above: under-confident); ECE is the gap averaged over the images. The temperature is fitted on the same set by minimising NLL (in-sample).',
      ],
      figures: reliability,
    },
    {
      heading: 'Penultimate layer',
      text: [
        'Müller, Kornblith & Hinton (2019) describe label smoothing pulling each class into a tight cluster equidistant from the other templates, and lowering the feature norm; ' +
          `here the mean norm went ${aggregate.map((a) => `${formatMetric('featureNorm', a.featureNorm.mean)} (ε = ${a.smoothing})`).join(' → ')}${multi ? `, averaged over ${seeds.length} seeds` : ''}. ` +
          `The projections${multi ? ` are of seed ${seeds[0]}: they` : ''} show the validation activations of three classes (the most confused triple unless --classes names them) on the plane through their three templates (the head's weight rows), with equal axes and one scale for every panel, so that spreads and distances compare.`,
        ...projectionNotes,
      ],
      figures: [norms, ...projections],
    },
  ];
  const report = join(dir, 'report.html');
  writeReport(report, o.title ?? 'lsr: hard labels against label smoothing', sections);
  const runs = all.map(({ projection, matrix, ...r }) => ({ ...r, projectionClasses: projection?.classes.map((k) => classNames[k]) }));
  // One seed: the runs, as before; several: the runs, and the statistics over the seeds.
  writeFileAtomic(join(dir, 'summary.json'), `${JSON.stringify(multi ? { seeds, runs, aggregate, differences } : runs, null, 2)}\n`);
  return { results: all, report, aggregate, differences };
}
