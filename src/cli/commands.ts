// The lsr commands: train, compare, eval, predict, demo. Each parses and checks its options
// before any work, then calls the library.
import { basename, dirname, extname, join, resolve } from 'node:path';
import * as data from '../data/index.js';
import { BadInputError, parseNumber, tidy } from '../engine/index.js';
import { type Metrics, confusion } from '../eval/index.js';
import { refuseOverwritingInput, writeFileAtomic } from '../io/index.js';
import type { DistContext } from '../distributed/index.js';
import * as training from '../train/index.js';
import { CONFIG_HELP, type TrainConfig, loadDataset, registeredDataset, registeredTestSet, splitData, train } from '../train/index.js';
import * as experiments from '../experiments/index.js';
import { reliabilityDiagram, render, writeReport } from '../report/index.js';
import { numberOption, parseCommandLine, parseList, usage } from './options.js';
import { COMMANDS, type CommandName, parseTrainArgs } from './specs.js';

const log = (line: string) => process.stderr.write(`${line}\n`);
/** In a data-parallel run, rank 0 alone prints results and writes files. */
const isLead = (ctx: DistContext | null) => !ctx || ctx.rank === 0;

/** Ctrl-C asks the run to checkpoint and stop; a second Ctrl-C exits at once. */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    log('\ninterrupt: saving a checkpoint after this batch (Ctrl-C again to quit now)');
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  return controller.signal;
}

/** Prints the command's usage when -h/--help was given; true if it did. */
function helped(command: CommandName, help: boolean): boolean {
  if (help) console.log(usage(COMMANDS[command]));
  return help;
}

export async function trainCommand(argv: string[], ctx: DistContext | null = null): Promise<number> {
  const { config, extra, help } = parseTrainArgs('train', argv);
  if (helped('train', help)) return 0;
  const registered = registeredDataset(config.data);
  if (!argv.some((a) => a === '--data' || a.startsWith('--data=')) && registered && isLead(ctx)) log(`no --data: training on ${registered.description}`);
  // --folds K: the K runs and the out-of-fold files; --folds K --fold k: that fold's run alone, in --out.
  if (config.folds >= 2 && !argv.some((a) => a === '--fold' || a.startsWith('--fold='))) return crossValidateCommand(config, extra, ctx);
  const result = await train(config, { resume: extra.resume === true, overwrite: extra.overwrite === true, signal: interruptSignal(), dist: ctx });
  result.model.dispose();
  if (isLead(ctx)) console.log(`${result.status === 'finished' ? 'finished' : 'stopped'}: ${config.out} (metrics.jsonl, best.safetensors, last.safetensors)`);
  return result.status === 'finished' ? 0 : 130;
}

async function crossValidateCommand(config: TrainConfig, extra: Record<string, string | boolean>, ctx: DistContext | null): Promise<number> {
  const r = await experiments.crossValidate(config, {
    resume: extra.resume === true,
    overwrite: extra.overwrite === true,
    signal: interruptSignal(),
    dist: ctx,
  });
  if (isLead(ctx)) printOutOfFold(`${config.folds} folds, label smoothing ${config.smoothing}`, r);
  return 0;
}

/** A cross-validation's lines: out-of-fold metrics, the folds' mean ± sd, the disputed labels and, with --label-noise, how many of the flips they find. */
function printOutOfFold(what: string, r: experiments.OutOfFold): void {
  const { formatSpread: ms, formatMetric: f } = experiments;
  console.log(
    `\n${what}: out of fold (${r.metrics.count} images, each predicted by the run that held it out, best checkpoint): accuracy ${f('accuracy', r.metrics.accuracy)}  NLL ${f('nll', r.metrics.nll)}  ECE ${f('ece', r.metrics.ece)}`,
  );
  console.log(`  per fold, mean ± sd: accuracy ${ms('accuracy', r.perFold.accuracy)}  NLL ${ms('nll', r.perFold.nll)}  ECE ${ms('ece', r.perFold.ece)}`);
  console.log(`  disputed labels (confident learning): ${r.disputed.length}, in ${r.files.disputed}`);
  if (r.noise)
    console.log(
      `  against the ${r.noise.flipped} labels --label-noise ${r.noise.labelNoise} flipped: precision ${pct(r.noise.precision)} (${r.noise.both} of ${r.noise.flagged} disputed were flipped), recall ${pct(r.noise.recall)} (${r.noise.both} of ${r.noise.flipped} flips disputed)`,
    );
  console.log(`  ${r.files.oof}, ${r.files.folds}`);
}

const pct = (x: number) => (Number.isNaN(x) ? '—' : `${(x * 100).toFixed(1)}%`);

/** --smoothing takes a list in compare and demo ("0,0.1"), each value once (one run each). */
function smoothingList(value: string | boolean | undefined): number[] {
  if (value === undefined) return [0, 0.1];
  return parseList(String(value), '--smoothing', (v) => parseNumber(v, '--smoothing', CONFIG_HELP.smoothing.range));
}

export async function compareCommand(argv: string[], ctx: DistContext | null = null, command: 'compare' | 'demo' = 'compare', title?: string): Promise<number> {
  const { config, extra, help } = parseTrainArgs(command, argv);
  if (helped(command, help)) return 0;
  const smoothings = smoothingList(extra.smoothing);
  const classes = typeof extra.classes === 'string' ? parseList(extra.classes, '--classes', (c) => c) : undefined;
  const t0 = performance.now();
  // The demo is the embedded default job: it starts afresh each time, unless resumed.
  const resume = extra.resume === true;
  if (resume && extra.overwrite === true) throw new BadInputError('--resume continues the runs in --out and --overwrite starts them afresh: choose one');
  const overwrite = !resume && (command === 'demo' || extra.overwrite === true);
  const seeds = seedList(extra.seeds, config.seed);
  const gallery = numberOption(COMMANDS[command], extra, 'gallery');
  const result = await experiments.compare(config, { smoothings, classes, signal: interruptSignal(), title, dist: ctx, overwrite, resume, seeds, gallery });
  if (isLead(ctx)) printComparison(result, t0);
  return 0;
}

/** The comparison's table (one seed: each run; several: mean ± sd and the paired differences), its readings and the report's path. */
function printComparison({ seeds, folds, runs, aggregate, differences, readings, report, outOfFold }: experiments.ComparisonResult, t0: number): void {
  const { formatSpread: ms } = experiments;
  if (seeds.length > 1 || folds) {
    const over = experiments.replicatesText(seeds.length, folds);
    console.log(`\nover ${folds ? `${over} (seed${seeds.length > 1 ? 's' : ''} ${seeds.join(', ')})` : `${over} (${seeds.join(', ')})`}, mean ± sd:`);
    console.log('label smoothing | val accuracy     | NLL               | ECE             | ECE after T     | feature norm');
    for (const a of aggregate)
      console.log(
        `${String(a.smoothing).padEnd(15)} | ${ms('accuracy', a.accuracy).padEnd(16)} | ${ms('nll', a.nll).padEnd(17)} | ${ms('ece', a.ece).padEnd(15)} | ${ms('calibratedEce', a.calibratedEce).padEnd(15)} | ${ms('featureNorm', a.featureNorm)}`,
      );
    console.log(`\npaired by ${folds ? 'seed and fold' : 'seed'}:`);
    for (const d of differences) console.log(`  ε = ${d.smoothing} − ε = ${d.baseline}, ${d.metric.padEnd(11)} ${experiments.describeDifference(d, over)}`);
  } else {
    console.log(`\nlabel smoothing | val accuracy | NLL    | ECE    | ECE after T | feature norm`);
    for (const r of runs)
      console.log(
        `${String(r.smoothing).padEnd(15)} | ${(r.metrics.accuracy * 100).toFixed(2).padStart(11)}% | ${r.metrics.nll.toFixed(4)} | ${(r.metrics.ece * 100).toFixed(2).padStart(5)}% | ${(r.calibrated.ece * 100).toFixed(2).padStart(10)}% | ${r.featureNorm.toFixed(3)}`,
      );
  }
  for (const o of outOfFold) printOutOfFold(`ε = ${o.smoothing}${seeds.length > 1 ? `, seed ${o.seed}` : ''}`, o);
  console.log(`\n${readings.join(' ')}`);
  console.log(`\nreport: ${report} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}

/** --seeds: a list ("0,1,2") or a count ("3": 0, 1, 2); by default the run's --seed alone. */
export function seedList(value: string | boolean | undefined, seed: number): number[] {
  if (value === undefined) return [seed];
  const text = String(value).trim();
  // A count: each seed is a whole run per setting, so a thousand is already more than anyone waits for.
  if (!text.includes(','))
    return Array.from({ length: parseNumber(text, '--seeds (a count, 3: seeds 0, 1, 2)', { integer: true, min: 1, max: 1000 }) }, (_, i) => i);
  return parseList(text, '--seeds', (v) => parseNumber(v, '--seeds', CONFIG_HELP.seed.range));
}

export async function demoCommand(argv: string[], ctx: DistContext | null = null): Promise<number> {
  return compareCommand(argv, ctx, 'demo', 'lsr demo: Fashion-MNIST, ResNet-20, hard labels against label smoothing 0.1');
}

/** The runs --run names (repeated, comma lists, folders of runs), listed on stderr when they are several. */
function runsOf(command: 'eval' | 'predict', all: Record<string, string[]>, ctx: DistContext | null): string[] {
  if (!all.run) throw new BadInputError(`lsr ${command} needs --run DIR`);
  const runs = training.ensembleMembers(all.run);
  if (runs.length > 1 && isLead(ctx)) log(`ensemble of ${runs.length} runs (the mean of their probabilities): ${runs.join(', ')}`);
  return runs;
}

/** An eval's images for a member: its validation split, or --data (a folder, a CSV or NAME-test). */
function evalImages(dataOption: string | boolean | undefined) {
  return (run: training.LoadedRun, dir: string): data.SampleList => {
    if (typeof dataOption !== 'string') {
      if (run.config.valFraction === 0)
        throw new BadInputError(`lsr eval: ${dir} was trained without validation (--val-fraction 0): name labelled images with --data`);
      return splitData(run.config).val;
    }
    // --data NAME-test: a registered data set's own test images (Fashion-MNIST's 10,000).
    return registeredTestSet(dataOption, run.config.data) ?? loadDataset(dataOption, { vocab: run.vocab, allowOutside: run.config.allowOutsidePaths }).dataset;
  };
}

/** Where an ensemble's evaluation goes without --out: the one folder of runs named, else the runs' common parent. */
function ensembleHome(values: string[], runs: string[]): string {
  if (values.length === 1 && !runs.includes(values[0]!)) return values[0]!;
  const parents = new Set(runs.map((r) => resolve(dirname(r))));
  if (parents.size === 1) return dirname(runs[0]!);
  throw new BadInputError(`lsr eval: the ensemble's runs are in different folders (${[...parents].join(', ')}): name the folder of its evaluation with --out`);
}

export async function evalCommand(argv: string[], ctx: DistContext | null = null): Promise<number> {
  const { values: o, all, help } = parseCommandLine(COMMANDS.eval, argv);
  if (helped('eval', help)) return 0;
  const runs = runsOf('eval', all, ctx);
  const ensemble = runs.length > 1;
  const home = typeof o.out === 'string' ? null : ensemble ? ensembleHome(all.run!, runs) : runs[0]!;
  const p = await training.ensemblePredict(runs, evalImages(o.data), {
    checkpoint: typeof o.checkpoint === 'string' ? o.checkpoint : undefined,
    device: o.device as string,
    tta: o.tta === true,
    ctx,
  });
  try {
    if (!isLead(ctx)) return 0;
    const e = training.evaluateEnsemble(p);
    // An ensemble of one is its run: its own logits measured, as before.
    const m = ensemble ? e.ensemble : e.members[0]!.metrics;
    const c = tidy(() => {
      const z = ensemble ? p.probabilities.log() : p.members[0]!.logits;
      return confusion(z, p.labels, p.vocab.size);
    });
    // One folder per data set and checkpoint: a second eval does not overwrite the first.
    const checkpoint = basename(p.members[0]!.checkpoint, '.safetensors');
    const dataTag =
      typeof o.data !== 'string' ? 'val' : (registeredTestSetName(o.data) ?? (basename(o.data, extname(o.data)).replace(/[^\w.-]+/g, '_') || 'data'));
    const dir = home === null ? (o.out as string) : join(home, 'eval', `${ensemble ? 'ensemble-' : ''}${dataTag}-${checkpoint}${o.tta === true ? '-tta' : ''}`);
    const probs = typeof o.probs === 'string' ? o.probs : ensemble ? join(dir, 'probs.csv') : null;
    if (probs) writeProbabilities(probs, p);
    const { svg, png } = await render(reliabilityDiagram(`ECE ${(m.ece * 100).toFixed(2)}%`, m.bins));
    writeFileAtomic(join(dir, 'reliability.svg'), svg);
    writeFileAtomic(join(dir, 'reliability.png'), png);
    const name = (k: number) => p.vocab.label(k);
    const short = (x: training.EnsembleEvaluation['members'][number]) => ({ run: x.dir, checkpoint: x.checkpoint, ...headline(x.metrics) });
    const result = {
      data: typeof o.data === 'string' ? o.data : 'validation split',
      ...(ensemble ? { runs: e.members.map(short), bestRun: e.members[e.best]!.dir, gain: e.gain } : { checkpoint: p.members[0]!.checkpoint }),
      tta: o.tta === true,
      ...m,
      perClass: Object.fromEntries(c.perClass.map((a, k) => [name(k), a])),
      topConfusions: c.topConfusions.map((x) => ({ truth: name(x.truth), predicted: name(x.predicted), count: x.count })),
    };
    writeFileAtomic(join(dir, 'eval.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeReport(join(dir, 'eval.html'), `lsr eval: ${ensemble ? `an ensemble of ${runs.length} runs` : runs[0]}`, [
      {
        heading: 'Metrics',
        tables: [
          ...(ensemble ? [{ header: ['run', 'images', 'accuracy', 'top-5', 'NLL', 'ECE'], rows: ensembleRows(e) }] : []),
          ...(ensemble ? [] : [{ header: ['images', 'accuracy', 'top-5', 'NLL', 'ECE'], rows: [metricCells(m)] }]),
        ],
        text: ensemble ? [gainSentence(e)] : undefined,
        figures: [{ svg, caption: 'Reliability diagram (15 bins)', files: ['reliability.svg', 'reliability.png'] }],
      },
      {
        heading: 'Top confusions',
        tables: [{ header: ['true class', 'predicted', 'count'], rows: result.topConfusions.map((x) => [x.truth, x.predicted, x.count]) }],
      },
      {
        heading: 'Per-class accuracy',
        tables: [
          { header: ['class', 'accuracy'], rows: Object.entries(result.perClass).map(([k, a]) => [k, Number.isNaN(a) ? '—' : `${(a * 100).toFixed(2)}%`]) },
        ],
      },
    ]);
    if (ensemble) console.log(`${ensembleTable(e)}\n${gainSentence(e)}`);
    else
      console.log(
        `accuracy ${(m.accuracy * 100).toFixed(2)}%  top-5 ${(m.top5 * 100).toFixed(2)}%  NLL ${m.nll.toFixed(4)}  ECE ${(m.ece * 100).toFixed(2)}%  (${m.count} images)`,
      );
    console.log(`${join(dir, 'eval.html')}${probs ? `\nprobabilities: ${probs}` : ''}`);
    return 0;
  } finally {
    training.disposeEnsemble(p);
  }
}

/** --data NAME-test names its folder after itself. */
const registeredTestSetName = (value: string): string | null =>
  /^(.+)-test$/.exec(value) && registeredDataset(value.slice(0, -'-test'.length)) ? value : null;

const headline = (m: Metrics) => ({ count: m.count, accuracy: m.accuracy, top5: m.top5, nll: m.nll, ece: m.ece });
const metricCells = (m: Metrics) => [
  m.count,
  `${(m.accuracy * 100).toFixed(2)}%`,
  `${(m.top5 * 100).toFixed(2)}%`,
  m.nll.toFixed(4),
  `${(m.ece * 100).toFixed(2)}%`,
];

/** Each member's row, the best marked, then the ensemble's. */
function ensembleRows(e: training.EnsembleEvaluation): Array<Array<string | number>> {
  return [
    ...e.members.map((x, i) => [`${x.dir}${i === e.best ? ' (best)' : ''}`, ...metricCells(x.metrics)]),
    [`ensemble of ${e.members.length}`, ...metricCells(e.ensemble)],
  ];
}

function ensembleTable(e: training.EnsembleEvaluation): string {
  const rows = ensembleRows(e);
  const w = Math.max(...rows.map((r) => String(r[0]).length), 'run'.length);
  const line = (r: Array<string | number>) =>
    `${String(r[0]).padEnd(w)} | ${r
      .slice(1)
      .map((c, i) => String(c).padStart([6, 8, 8, 6, 6][i]!))
      .join(' | ')}`;
  return [line(['run', 'images', 'accuracy', 'top-5', 'NLL', 'ECE']), ...rows.map(line)].join('\n');
}

/** The ensemble's gain over its best member and over their mean, in words. */
function gainSentence(e: training.EnsembleEvaluation): string {
  const g = (x: training.MetricGain) =>
    `${x.accuracy >= 0 ? '+' : '−'}${Math.abs(x.accuracy * 100).toFixed(2)} pt accuracy, NLL ${x.nll >= 0 ? '+' : '−'}${Math.abs(x.nll).toFixed(4)}, ECE ${x.ece >= 0 ? '+' : '−'}${Math.abs(x.ece * 100).toFixed(2)} pt`;
  return `The ensemble against its best member (${e.members[e.best]!.dir}): ${g(e.gain.overBest)}; against the members' mean: ${g(e.gain.overMean)}.`;
}

/** The probabilities as CSV: image, then one column per class (each row sums to 1). */
function writeProbabilities(path: string, p: training.EnsemblePrediction): void {
  const rows = tidy(() => p.probabilities.toFlatArray());
  const c = p.vocab.size;
  // Ten significant digits: a row's sum stays within 1e-9 of 1, in a file a tenth the size of full precision.
  const lines = p.indices.map((i, r) =>
    [csvField(p.dataset.sample(i).name), ...rows.slice(r * c, (r + 1) * c).map((v) => String(Number(v.toPrecision(10))))].join(','),
  );
  writeFileAtomic(path, `${['image', ...p.vocab.classes.map(csvField)].join(',')}\n${lines.join('\n')}\n`);
}

export async function predictCommand(argv: string[], ctx: DistContext | null = null): Promise<number> {
  const { values: o, all, help } = parseCommandLine(COMMANDS.predict, argv);
  if (helped('predict', help)) return 0;
  for (const k of ['run', 'data', 'out']) if (typeof o[k] !== 'string') throw new BadInputError(`lsr predict needs --${k}`);
  const runs = runsOf('predict', all, ctx);
  const out = o.out as string;
  const probs = typeof o.probs === 'string' ? o.probs : runs.length > 1 ? join(dirname(out), `${basename(out, extname(out))}-probs.csv`) : null;
  // The submission and the probabilities must not replace what they are made from: the test CSV or a file of a run.
  const inputs = [
    { what: `--data ${o.data as string}`, path: o.data as string },
    ...runs.flatMap((r) =>
      ['config.json', 'vocab.json', 'recipe.json', 'best.safetensors', 'last.safetensors'].map((f) => ({ what: `the run's ${join(r, f)}`, path: join(r, f) })),
    ),
  ];
  refuseOverwritingInput({ what: `--out ${out}`, path: out }, inputs, 'choose another --out');
  if (probs) refuseOverwritingInput({ what: `--probs ${probs}`, path: probs }, [...inputs, { what: `--out ${out}`, path: out }], 'choose another --probs');
  let images: data.SampleList | null = null;
  const p = await training.ensemblePredict(
    runs,
    (run) => (images ??= data.readImageCsv(o.data as string, { labeled: false, vocab: run.vocab, allowOutside: run.config.allowOutsidePaths }).dataset),
    { checkpoint: typeof o.checkpoint === 'string' ? o.checkpoint : undefined, device: o.device as string, tta: o.tta === true, ctx },
  );
  try {
    if (!isLead(ctx)) return 0;
    const predicted = tidy(() => p.probabilities.argmax(1).toFlatArray());
    const lines = p.indices.map((i, k) => `${csvField(p.dataset.sample(i).name)},${csvField(p.vocab.label(predicted[k]!))}`);
    writeFileAtomic(out, `image,label\n${lines.join('\n')}\n`);
    if (probs) writeProbabilities(probs, p);
    console.log(`wrote ${lines.length} predictions to ${out}${probs ? ` and their probabilities to ${probs}` : ''}`);
    return 0;
  } finally {
    training.disposeEnsemble(p);
  }
}

const csvField = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The distillation caveat (Müller et al. 2019): experiments.distill, then each setting's accuracy and the reading. */
export async function distillCommand(argv: string[], ctx: DistContext | null = null): Promise<number> {
  const { config, extra, help } = parseTrainArgs('distill', argv);
  if (helped('distill', help)) return 0;
  const temperature = numberOption(COMMANDS.distill, extra, 'temperature');
  const beta = numberOption(COMMANDS.distill, extra, 'beta');
  const seeds = seedList(extra.seeds, config.seed);
  const r = await experiments.distill(config, { temperature, beta, seeds, signal: interruptSignal(), dist: ctx, overwrite: extra.overwrite === true });
  if (!isLead(ctx)) return 0;
  for (const s of r.settings) console.log(`${s.label.padEnd(28)} ${experiments.formatSpread('accuracy', s.accuracy)}`);
  console.log(`\n${r.reading}\nreport: ${r.report}`);
  return 0;
}
