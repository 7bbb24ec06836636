// The seed's experiment: the same run for each label-smoothing value, then the comparison report
// (accuracy curves, calibration before and after temperature scaling, feature norms, and the
// penultimate-layer projection of Müller et al. 2019).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type * as data from '../data/index.js';
import { BadInputError, tidy } from '../engine/index.js';
import { chooseProjectionClasses, classificationMetrics, confusion, fitTemperature, meanFeatureNorm, templateProjection } from '../eval/index.js';
import type { Metrics, Projection } from '../eval/index.js';
import { writeFileAtomic } from '../io/index.js';
import { type Section, type Spec, accuracyCurves, barChart, projectionScatter, reliabilityDiagram, render, writeReport } from '../report/index.js';
import { resolvePrecision } from '../engine/index.js';
import type { DistContext } from '../distributed/index.js';
import { type Classifier, type EpochMetrics, type TrainConfig, collectOutputs, evalLoader, loadDataset, train } from '../train/index.js';

export interface SettingResult {
  smoothing: number;
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
  classes: [number, number, number] | null,
  ctx: DistContext | null,
) {
  const loader = evalLoader(val, config, pipeline, ctx);
  const out = await collectOutputs(model, loader, resolvePrecision(config.precision).precision, ctx);
  await loader.close();
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

export async function runComparison(
  config: TrainConfig,
  smoothings: number[],
  o: { classes?: string[]; log?: (line: string) => void; tty?: boolean; signal?: AbortSignal; title?: string; dist?: DistContext | null; overwrite?: boolean },
): Promise<{ results: SettingResult[]; report: string }> {
  const ctx = o.dist ?? null;
  const lead = !ctx || ctx.rank === 0;
  const log = lead ? (o.log ?? ((l: string) => process.stderr.write(`${l}\n`))) : () => {};
  if (config.valFraction === 0) throw new BadInputError('--val-fraction 0: a comparison measures every setting on the validation split; give a fraction > 0');
  if (lead) mkdirSync(config.out, { recursive: true });
  const results: SettingResult[] = [];
  let classes: [number, number, number] | null = null;
  // --classes is checked against the data's labels before any training.
  if (o.classes) {
    if (o.classes.length !== 3) throw new BadInputError(`--classes needs three class names, got ${o.classes.length}`);
    const { vocab } = loadDataset(config.data, { skipBadImages: config.skipBadImages }).dataset;
    classes = o.classes.map((c) => vocab.index(c, '--classes')) as [number, number, number];
  }
  let classNames: readonly string[] = [];
  let sizes = '';
  let recipe = '';
  for (const smoothing of smoothings) {
    const cfg = { ...config, smoothing, out: join(config.out, `smoothing-${smoothing}`) };
    log(`\n== label smoothing ${smoothing}: ${cfg.out}`);
    const run = await train(cfg, { log, tty: o.tty, signal: o.signal, dist: ctx, overwrite: o.overwrite });
    if (run.status === 'interrupted')
      throw new Error(`interrupted during the run with smoothing ${smoothing}: resume it with lsr train --resume --out ${cfg.out}`);
    classNames = run.data.vocab.classes;
    sizes = `${run.data.train.length} training and ${run.data.val.length} validation images`;
    recipe = run.data.recipe.description;
    const a = await analyse(run.model, run.data.val, run.data.evalPipeline, cfg, classes, ctx);
    classes ??= a.projection?.classes ?? null; // the first setting's choice holds for all
    results.push({ smoothing, status: run.status, epochs: run.epochs, ...a });
    run.model.dispose();
  }

  const dir = config.out;
  // Rank 0 alone writes the report.
  if (!lead) return { results, report: join(dir, 'report.html') };
  const curves = await figure(
    dir,
    'accuracy',
    accuracyCurves(
      results.flatMap((r) =>
        r.epochs.flatMap((e) => [
          { setting: String(r.smoothing), epoch: e.epoch, split: 'train' as const, accuracy: e.trainAccuracy },
          { setting: String(r.smoothing), epoch: e.epoch, split: 'val' as const, accuracy: e.valAccuracy! },
        ]),
      ),
    ),
    'Train (dashed) and validation accuracy per epoch',
  );
  const reliability = [];
  for (const r of results)
    reliability.push(
      await figure(
        dir,
        `reliability-${r.smoothing}`,
        reliabilityDiagram(`ε = ${r.smoothing}: ECE ${pct(r.metrics.ece)}`, r.metrics.bins),
        `Reliability (15 bins), label smoothing ${r.smoothing}`,
      ),
    );
  const norms = await figure(
    dir,
    'feature-norms',
    barChart(
      'Mean penultimate feature norm',
      results.map((r) => ({ setting: String(r.smoothing), value: r.featureNorm })),
      'mean ‖h‖',
    ),
    'Mean L2 norm of the penultimate activations (validation)',
  );
  const projections = [];
  for (const r of results) {
    if (!r.projection) continue;
    const name = (k: number) => classNames[k] ?? String(k);
    projections.push(
      await figure(
        dir,
        `projection-${r.smoothing}`,
        projectionScatter(
          `ε = ${r.smoothing}`,
          r.projection.points.map((p) => ({ x: p.x, y: p.y, cls: name(p.label) })),
          r.projection.templates.map(([x, y], i) => ({ x, y, cls: name(r.projection!.classes[i]!) })),
        ),
        `Penultimate activations of ${r.projection.classes.map(name).join(', ')} on the plane of their templates (crosses)`,
      ),
    );
  }

  const sections: Section[] = [
    {
      heading: 'Setting',
      text: [
        `Data ${config.data} (${sizes}), model ${config.model}, ${config.epochs} epochs, batch ${config.batchSize}, ${config.optimizer} lr ${config.lr} (${config.scheduler}), seed ${config.seed}` +
          `${config.labelNoise ? `, label noise ${config.labelNoise}` : ''}${config.limitPerClass ? `, at most ${config.limitPerClass} training images per class` : ''}. ` +
          'Every setting starts from the same weights and sees the same batches in the same order; only the label smoothing differs.',
        `Images: ${recipe}. Weight decay ${config.weightDecay}${config.optimizer === 'sgd' ? `, momentum ${config.momentum}` : ''}, precision ${config.precision}.`,
      ],
    },
    {
      heading: 'Results',
      tables: [
        {
          header: ['label smoothing', 'val accuracy', 'top-5', 'NLL', 'ECE', 'temperature', 'ECE after scaling', 'NLL after scaling', 'mean feature norm'],
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
      figures: [curves],
    },
    {
      heading: 'Calibration',
      text: [
        'Reliability diagrams of the validation set before temperature scaling; the temperature is fitted on the same set by minimising NLL (Guo et al. 2017).',
      ],
      figures: reliability,
    },
    {
      heading: 'Penultimate layer',
      text: [
        'Müller, Kornblith & Hinton (2019): label smoothing pulls each class into a tight cluster equidistant from the other templates, and lowers the feature norm.',
      ],
      figures: [norms, ...projections],
    },
  ];
  const report = join(dir, 'report.html');
  writeReport(report, o.title ?? 'lsr: hard labels against label smoothing', sections);
  writeFileAtomic(
    join(dir, 'summary.json'),
    `${JSON.stringify(
      results.map(({ projection, matrix, ...r }) => ({ ...r, projectionClasses: projection?.classes.map((k) => classNames[k]) })),
      null,
      2,
    )}\n`,
  );
  return { results, report };
}
