// A comparison's report: the figures (accuracy curves, reliability diagrams, feature norms,
// projections) under figures/, report.html (the setting, the tables, what the runs show) and
// summary.json, written by rank 0 into the comparison's folder.
import { join } from 'node:path';
import { type ImageSource, decode, thumbnailPng } from '../data/index.js';
import { type ImagePrediction, binomialHalfWidth, confidentMistakes, confusionCells, mostConfused, sameImages, seedBand } from '../eval/index.js';
import { writeFileAtomic } from '../io/index.js';
import {
  type GalleryLine,
  type GalleryTile,
  type Section,
  accuracyCurves,
  barChart,
  confusedPairsChart,
  confusionHeatmap,
  gallerySvg,
  projectionScatter,
  reliabilityDiagram,
  settingColors,
  sharedDomain,
  writeReport,
} from '../report/index.js';
import { type TrainConfig, describePrecision } from '../train/index.js';
import type { ComparisonRun, SeedDifference, SeedSummary } from './analysis.js';
import type { OutOfFold } from './crossval.js';
import { type WrittenFigure, writeFigure, writeSvgFigure } from './figures.js';
import { formatMetric, formatSpread, readings, replicatesText } from './prose.js';

/** The report's default title. */
export const COMPARISON_TITLE = 'lsr: hard labels against label smoothing';

/** Fewer validation images of a class than this on the projection plane: a warning instead of a picture. */
const MIN_PROJECTION_POINTS = 5;

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

/** The galleries' default size: images per ε. */
export const GALLERY_SIZE = 12;
/** Up to this many classes a confusion matrix is drawn whole; above, its most-confused pairs. */
const HEATMAP_CLASSES = 30;
/** The most-confused pairs drawn for a matrix too large to draw. */
const CONFUSED_PAIRS = 20;
/** The thumbnails' box, pixels. */
const THUMBNAIL = 64;

/** An image a gallery shows: where its pixels are and, where --label-noise reached the labels it is shown with (held-out folds), its label before the noise. */
export interface GalleryImage {
  source: ImageSource;
  original?: number;
}

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
  /** With --folds: each seed and setting's out-of-fold numbers; the first seed's disputed labels make a gallery per ε. */
  outOfFold?: ReadonlyArray<OutOfFold & { seed: number; smoothing: number }>;
  /** The images the galleries draw, by name (the first seed's validation split, or its cross-validated set); without them the tiles have no thumbnail. */
  images?: ReadonlyMap<string, GalleryImage>;
  /** Images per gallery (default GALLERY_SIZE); 0: no galleries (the confusion matrices stay). */
  gallery?: number;
}

/** Writes `dir`/report.html, its figures and summary.json; returns the report's path. */
export async function writeComparisonReport(dir: string, o: ComparisonReportInput): Promise<string> {
  const report = join(dir, 'report.html');
  const sections = comparisonSections(o, await writeComparisonFigures(dir, o));
  writeReport(report, o.title ?? COMPARISON_TITLE, [...sections, ...(await mistakeSections(dir, o))]);
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

const percent = (p: number) => `${(p * 100).toFixed(1)}%`;

/** Thumbnails as data: URIs, each image decoded once however many galleries show it; null where the image is unknown or unreadable. */
function thumbnails(images: ReadonlyMap<string, GalleryImage> | undefined): (name: string) => Promise<{ href: string; width: number; height: number } | null> {
  const made = new Map<string, Promise<{ href: string; width: number; height: number } | null>>();
  const make = async (name: string) => {
    const image = images?.get(name);
    if (!image) return null;
    try {
      const { png, width, height } = await thumbnailPng(await decode(image.source), THUMBNAIL);
      return { href: `data:image/png;base64,${png.toString('base64')}`, width, height };
    } catch {
      // A file gone or unreadable since training: the tile keeps its text, without the picture.
      return null;
    }
  };
  return (name) => {
    let t = made.get(name);
    if (!t) made.set(name, (t = make(name)));
    return t;
  };
}

async function tile(thumb: ReturnType<typeof thumbnails>, image: string, lines: GalleryLine[], frame: string): Promise<GalleryTile> {
  const t = await thumb(image);
  return { href: t?.href ?? null, width: t?.width ?? THUMBNAIL, height: t?.height ?? THUMBNAIL, lines, frame };
}

const WRONG = '#c62828';
const RIGHT = '#2e7d32';
const FLIPPED = '#6a1b9a';

/**
 * The pictures of the mistakes (first seed, fold 0): per ε its most confidently wrong validation
 * images with every setting's prediction of the same image, and its confusion matrix (the
 * most-confused pairs above HEATMAP_CLASSES classes); with --folds, per ε the most confidently
 * disputed labels, scored against --label-noise's flips when there were some.
 */
async function mistakeSections(dir: string, o: ComparisonReportInput): Promise<Section[]> {
  const results = firstSeed(o);
  const n = o.gallery ?? GALLERY_SIZE;
  const name = (k: number) => o.classNames[k] ?? String(k);
  const thumb = thumbnails(o.images);
  const multi = several(o);
  const noisyLabels = (o.folds ?? 0) >= 2 && o.config.labelNoise > 0;
  const galleries: WrittenFigure[] = [];
  if (n > 0)
    for (const r of results) {
      const chosen = confidentMistakes(r.predictions, n);
      const across = sameImages(
        chosen.map((p) => p.image),
        results.map((q) => q.predictions),
      );
      const tiles = await Promise.all(
        chosen.map((p, k) => {
          const original = o.images?.get(p.image)?.original;
          const lines: GalleryLine[] = [
            { text: `${noisyLabels ? 'given' : 'true'}: ${name(p.label)}`, bold: true },
            ...(original !== undefined && original !== p.label ? [{ text: `flipped: was ${name(original)}`, color: FLIPPED }] : []),
            ...across[k]!.map((q, j) => predictionLine(results[j]!.smoothing, q, r.smoothing === results[j]!.smoothing, name, original)),
          ];
          return tile(thumb, p.image, lines, WRONG);
        }),
      );
      if (!tiles.length) continue;
      galleries.push(
        writeSvgFigure(
          dir,
          `mistakes-${r.smoothing}`,
          gallerySvg(`ε = ${r.smoothing}: the ${tiles.length} most confidently wrong`, tiles),
          `The ${tiles.length} validation images the model trained with ε = ${r.smoothing}${multi ? firstRun(o) : ''} got most confidently wrong (the largest probability on a wrong class), ` +
            `each with its ${noisyLabels ? 'given' : 'true'} class and every setting's prediction of the same image: the class, its probability, ✓ right or ✗ wrong` +
            (noisyLabels ? ' (a purple ✓: the class the image had before --label-noise flipped its label)' : ''),
        ),
      );
    }
  const confusion: WrittenFigure[] = [];
  for (const r of results) {
    const classes = o.classNames.length || r.matrix.length;
    const title = `ε = ${r.smoothing}`;
    confusion.push(
      classes <= HEATMAP_CLASSES
        ? await writeFigure(
            dir,
            `confusion-${r.smoothing}`,
            confusionHeatmap(
              title,
              confusionCells(r.matrix).map((c) => ({ truth: name(c.truth), predicted: name(c.predicted), count: c.count, rate: c.rate })),
              r.matrix.map((_, k) => name(k)),
            ),
            `Confusion matrix, label smoothing ${r.smoothing}${multi ? firstRun(o) : ''}: validation images per true class (rows) and predicted class (columns), coloured by the share of the row`,
          )
        : await writeFigure(
            dir,
            `confused-pairs-${r.smoothing}`,
            confusedPairsChart(
              title,
              mostConfused(r.matrix, CONFUSED_PAIRS).map((c) => ({ truth: name(c.truth), predicted: name(c.predicted), count: c.count })),
            ),
            `The ${CONFUSED_PAIRS} most-confused (true → predicted) pairs, label smoothing ${r.smoothing}${multi ? firstRun(o) : ''}: ${classes} classes are too many for a matrix`,
          ),
    );
  }
  const sections: Section[] = [
    {
      heading: 'Mistakes',
      text: [
        `What each model gets wrong, on the validation split${multi ? firstRun(o) : ''}. ` +
          (n > 0
            ? `The galleries show the images each setting got most confidently wrong (the largest probability on a wrong class; fastai's plot_top_losses ranks by loss, which also counts images right but unsure), and beside each the prediction every other setting made of the same image: what label smoothing changes on the same pictures. A model trained with ε is pulled towards at most 1 − ε + ε/K on a class (K classes), so its confidences, its mistakes' included, run lower. `
            : '') +
          (noisyLabels
            ? 'With --folds and --label-noise the held-out fold carries the given labels, some of them flipped by the noise: an image marked as flipped is one the model may have got right. '
            : '') +
          `The confusion matrices count the same images per true and predicted class${o.classNames.length > HEATMAP_CLASSES ? `; with ${o.classNames.length} classes they are given as their ${CONFUSED_PAIRS} most-confused pairs` : ''}.`,
      ],
      figures: [...galleries, ...confusion],
    },
  ];
  const disputed = n > 0 ? await disputedSection(dir, o, thumb) : null;
  return disputed ? [...sections, disputed] : sections;
}

/**
 * "✓ ε=0.1: Shirt 61.2%", green when right and red when wrong, bold for the gallery's own setting;
 * purple when wrong against a label the noise flipped but right about the class before it.
 */
function predictionLine(smoothing: number, p: ImagePrediction | null, own: boolean, name: (k: number) => string, original?: number): GalleryLine {
  if (!p) return { text: `ε=${smoothing}: not predicted`, color: '#777' };
  const right = p.predicted === p.label;
  const beforeNoise = !right && original !== undefined && original !== p.label && p.predicted === original;
  return {
    text: `${right || beforeNoise ? '✓' : '✗'} ε=${smoothing}: ${name(p.predicted)} ${percent(p.confidence)}`,
    color: right ? RIGHT : beforeNoise ? FLIPPED : WRONG,
    bold: own,
  };
}

/** With --folds: per ε (first seed), the labels confident learning disputes most confidently, marked flipped or not when --label-noise flipped some. */
async function disputedSection(dir: string, o: ComparisonReportInput, thumb: ReturnType<typeof thumbnails>): Promise<Section | null> {
  const n = o.gallery ?? GALLERY_SIZE;
  const name = (k: number) => o.classNames[k] ?? String(k);
  const own = (o.outOfFold ?? []).filter((f) => f.seed === o.seeds[0]);
  if (!own.length) return null;
  const figures: WrittenFigure[] = [];
  const scores: string[] = [];
  for (const f of own) {
    const shown = f.disputed.slice(0, n);
    if (f.noise)
      scores.push(
        `ε = ${f.smoothing}: ${f.disputed.length} disputed, ${f.noise.both} of them flipped: precision ${Number.isNaN(f.noise.precision) ? '—' : percent(f.noise.precision)}, recall ${Number.isNaN(f.noise.recall) ? '—' : percent(f.noise.recall)} of the ${f.noise.flipped} flips`,
      );
    else scores.push(`ε = ${f.smoothing}: ${f.disputed.length} disputed`);
    if (!shown.length) continue;
    const tiles = await Promise.all(
      shown.map((d) => {
        const flipped = d.original === undefined ? null : d.original !== d.given;
        const lines: GalleryLine[] = [
          { text: `given: ${name(d.given)}`, bold: true },
          { text: `suggested: ${name(d.suggested)} ${percent(d.confidence)}`, color: '#1565c0' },
          ...(flipped === null ? [] : [flipped ? { text: `✓ flipped, was ${name(d.original!)}`, color: RIGHT } : { text: '✗ not flipped', color: '#777' }]),
        ];
        return tile(thumb, d.image, lines, flipped === null ? '#1565c0' : flipped ? RIGHT : '#999');
      }),
    );
    figures.push(
      writeSvgFigure(
        dir,
        `disputed-${f.smoothing}`,
        gallerySvg(`ε = ${f.smoothing}: the ${tiles.length} most confidently disputed labels`, tiles),
        `The ${tiles.length} labels confident learning disputes most confidently, label smoothing ${f.smoothing}${o.seeds.length > 1 ? `, seed ${o.seeds[0]}` : ''} (disputed.csv): ` +
          `the given label, the class the out-of-fold probabilities suggest and its probability${f.noise ? ', and whether --label-noise flipped the label (a disputed label that was flipped is a found error)' : ''}`,
      ),
    );
  }
  return {
    heading: 'Disputed labels',
    text: [
      "Confident learning (Northcutt et al. 2021) over the out-of-fold probabilities (each image predicted by the fold's run that held it out, best checkpoint): " +
        `an image confidently counted in a class other than its given label is disputed (each setting's disputed.csv). ${scores.join('; ')}.`,
    ],
    figures,
  };
}
