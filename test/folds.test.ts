// K-fold cross-validation (--folds K): the folds (no image trains the run that holds it out, each
// image held out once, the same folds for every ε, deterministic for a seed), label noise keyed on
// the full set, the refusals; then crossValidate's out-of-fold files against the runs themselves,
// its --resume, and compare --folds.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import * as L from '../src/index.js';
import { io, training } from '../src/index.js';
import { parseTrainArgs } from '../src/cli/specs.js';
import { TinyMlp, assertClose } from './helpers.js';

let root = '';
let leaves = '';
const CLASSES = ['acer', 'betula', 'quercus'];
const IMAGES = 36; // 12 per class

before(async () => {
  training.MODELS.register('folds-mlp', { build: ({ numClasses }) => new TinyMlp(numClasses) });
  root = mkdtempSync(join(tmpdir(), 'lsr-folds-'));
  leaves = join(root, 'leaves');
  mkdirSync(join(leaves, 'images'), { recursive: true });
  let csv = 'image,label\n';
  for (let i = 0; i < IMAGES; i++) {
    const px = Buffer.alloc(16 * 16 * 3);
    for (let k = 0; k < px.length; k++) px[k] = (k % 3 === i % 3 ? 190 : 50) + ((k * 7 + i * 13) % 50);
    await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
      .png()
      .toFile(join(leaves, 'images', `${i}.png`));
    csv += `images/${i}.png,${CLASSES[i % 3]}\n`;
  }
  writeFileSync(join(leaves, 'train.csv'), csv);
});
after(() => rmSync(root, { recursive: true, force: true }));

const args = (out: string, ...more: string[]) => [
  '--data',
  leaves,
  '--model',
  'folds-mlp',
  '--image-size',
  '8',
  '--batch-size',
  '6',
  '--epochs',
  '2',
  '--lr',
  '0.1',
  '--precision',
  'fp64',
  '--workers',
  '0',
  '--threads',
  '1',
  '--out',
  out,
  ...more,
];
const config = (out: string, ...more: string[]) => parseTrainArgs('train', args(out, ...more)).config;
const names = (set: L.data.SampleList) => set.samples.map((s) => s.name);

describe('the folds', () => {
  test('no image trains the run that holds it out; every image is held out exactly once', () => {
    const c = config(join(root, 'x'), '--folds', '4');
    const heldOutBy = new Map<string, number>();
    for (let k = 0; k < 4; k++) {
      const { train, val } = training.splitData({ ...c, fold: k });
      const held = new Set(names(val));
      for (const n of names(train)) assert.ok(!held.has(n), `${n} is held out by fold ${k} and trains it`);
      assert.equal(train.length + val.length, IMAGES, `fold ${k}: training and held-out images make the whole set`);
      // Stratified: 12 images a class over 4 folds, 3 of each class held out.
      assert.deepEqual(
        CLASSES.map((_, c) => val.labels().filter((l) => l === c).length),
        [3, 3, 3],
      );
      for (const n of held) {
        assert.ok(!heldOutBy.has(n), `${n} is held out by folds ${heldOutBy.get(n)} and ${k}`);
        heldOutBy.set(n, k);
      }
    }
    assert.equal(heldOutBy.size, IMAGES);
    // The plan's record agrees with the runs' data.
    const plan = training.foldPlan(c);
    for (const [j, i] of plan.pool.entries()) assert.equal(heldOutBy.get(plan.dataset.sample(i).name), plan.fold[j]);
  });

  test('the same folds for every ε and every option that is not the data or the seed; deterministic for a seed', () => {
    const folds = (...more: string[]) => training.foldPlan(config(join(root, 'x'), '--folds', '3', ...more)).fold;
    const base = folds('--smoothing', '0');
    assert.deepEqual(folds('--smoothing', '0.1'), base);
    assert.deepEqual(folds('--smoothing', '0.3', '--lr', '0.05', '--epochs', '7'), base);
    assert.deepEqual(folds('--smoothing', '0'), base, 'twice the same');
    assert.notDeepEqual(folds('--seed', '1'), base, 'another seed deals other folds');
  });

  test('--label-noise is applied once to the whole set, keyed by the image: the same given labels in every fold, training and held out', () => {
    const c = config(join(root, 'x'), '--folds', '3', '--label-noise', '0.4');
    const plan = training.foldPlan(c);
    const { dataset: full } = training.loadDataset(leaves);
    const expected = training.withLabelNoise(full, 0.4, c.seed);
    const flipped = expected.samples.flatMap((s, i) => (s.label !== full.sample(i).label ? [s.name] : []));
    assert.ok(flipped.length > 5 && flipped.length < 25, `about 40% of ${IMAGES} flipped, got ${flipped.length}`);
    assert.deepEqual(plan.original, full.labels());
    const givenOf = new Map(expected.samples.map((s) => [s.name, s.label]));
    for (let k = 0; k < 3; k++) {
      const { train, val } = training.splitData({ ...c, fold: k });
      for (const s of [...train.samples, ...val.samples]) assert.equal(s.label, givenOf.get(s.name), `fold ${k}: ${s.name}`);
    }
    // Keyed by the image's index in the full set: a pool capped by --limit-per-class gives its images the same labels.
    const capped = training.foldPlan({ ...c, limitPerClass: 6 });
    assert.equal(capped.pool.length, 18);
    for (const i of capped.pool) assert.equal(capped.dataset.sample(i).label, givenOf.get(full.sample(i).name));
  });

  test('refusals name the option: --folds 1, --folds above the smallest class, with --val-fraction, --fold without --folds or beyond K', () => {
    assert.throws(() => config(join(root, 'x'), '--folds', '1'), /--folds must be 0 \(off\) or at least 2/);
    assert.throws(
      () => training.splitData(config(join(root, 'x'), '--folds', '13')),
      /--folds 13 is more than the 12 images of class "acer".*give --folds 12 or less/,
    );
    assert.throws(
      () => training.splitData(config(join(root, 'x'), '--folds', '5', '--limit-per-class', '4')),
      /--folds 5 is more than the 4 images of class "acer" \(with --limit-per-class 4\)/,
    );
    assert.throws(() => config(join(root, 'x'), '--folds', '3', '--val-fraction', '0.2'), /--val-fraction and --folds 3 both choose the validation images/);
    const file = join(root, 'cv.json');
    writeFileSync(file, JSON.stringify({ folds: 3, valFraction: 0.2 }));
    assert.throws(() => config(join(root, 'x'), '--config', file), /--val-fraction and --folds 3/);
    assert.throws(() => config(join(root, 'x'), '--fold', '1'), /--fold is the fold a run of --folds K holds out: give --folds too/);
    assert.throws(() => config(join(root, 'x'), '--folds', '3', '--fold', '3'), /--fold must be below --folds 3/);
    assert.throws(() => config(join(root, 'x'), '--folds', '3', '--val-limit-per-class', '2'), /--val-limit-per-class cannot cap the held-out fold/);
  });
});

/** A checkpoint's model weights, by name. */
const weightsOf = (path: string) => {
  const file = io.loadSafetensors(path);
  const out = new Map<string, number[]>();
  for (const [k, t] of file.tensors) if (k.startsWith('model.')) out.set(k, t.toFlatArray());
  for (const t of file.tensors.values()) t.dispose();
  return out;
};

/** oof.csv's rows as objects: image, label, fold and the class probabilities. */
function readOof(path: string): Array<{ image: string; label: string; fold: number; probs: number[] }> {
  const [header, ...rows] = readFileSync(path, 'utf8').trim().split('\n');
  assert.equal(header, `image,label,fold,${CLASSES.join(',')}`);
  return rows.map((line) => {
    const [image, label, fold, ...probs] = line.split(',');
    return { image: image!, label: label!, fold: Number(fold), probs: probs.map(Number) };
  });
}

describe('crossValidate', () => {
  const cv = () => join(root, 'cv');
  const options = () => config(cv(), '--folds', '3', '--label-noise', '0.3');

  test('oof.csv holds every image once, with the probabilities of the run that held it out; folds.json, disputed.csv and noise.json agree with them', async () => {
    const r = await L.experiments.crossValidate(options(), { log: () => {} });
    const plan = training.foldPlan(options());
    const rows = readOof(join(cv(), 'oof.csv'));
    assert.deepEqual(rows.map((x) => x.image).sort(), plan.dataset.samples.map((s) => s.name).sort(), 'every labelled image once');
    const byName = new Map(plan.dataset.samples.map((s, i) => [s.name, i]));
    for (const x of rows) {
      const i = byName.get(x.image)!;
      assert.equal(x.fold, plan.fold[plan.pool.indexOf(i)], `${x.image}: its fold`);
      assert.equal(x.label, CLASSES[plan.dataset.sample(i).label], `${x.image}: its given (noised) label`);
    }
    // Each fold's run folder is an ordinary run that records its fold, and validates on exactly that fold.
    for (let k = 0; k < 3; k++) {
      const run = training.loadRun(join(cv(), `fold-${k}`));
      assert.equal(run.config.folds, 3);
      assert.equal(run.config.fold, k);
      const val = training.splitData(run.config).val;
      assert.deepEqual(
        val.samples.map((s) => s.name).sort(),
        rows
          .filter((x) => x.fold === k)
          .map((x) => x.image)
          .sort(),
      );
      // A row against a direct prediction by the run that held it out.
      const { logits, indices } = await training.predictLogits(run, val);
      const probs = L.tidy(() => logits.softmax(1).toFlatArray());
      const first = val.sample(indices[0]!).name;
      assertClose(rows.find((x) => x.image === first)!.probs, probs.slice(0, 3), 1e-7, `fold ${k}, ${first}`);
      logits.dispose();
      run.model.dispose();
    }
    // Out-of-fold accuracy over the concatenated rows; the folds' mean.
    const folds = JSON.parse(readFileSync(join(cv(), 'folds.json'), 'utf8'));
    const correct = rows.filter((x) => CLASSES[x.probs.indexOf(Math.max(...x.probs))] === x.label).length;
    assertClose(folds.outOfFold.accuracy, correct / rows.length, 1e-12);
    assertClose(folds.meanOverFolds.accuracy.mean, folds.perFold.reduce((a: number, f: { accuracy: number }) => a + f.accuracy, 0) / 3, 1e-12);
    assert.equal(folds.outOfFold.count, IMAGES);
    // noise.json: the flips of the whole set; the disputed set scored against them.
    const noise = JSON.parse(readFileSync(join(cv(), 'noise.json'), 'utf8'));
    const { dataset: full } = training.loadDataset(leaves);
    const noised = training.withLabelNoise(full, 0.3, 0);
    assert.deepEqual(
      noise.flipped.map((f: { image: string }) => f.image),
      noised.samples.flatMap((s, i) => (s.label !== full.sample(i).label ? [s.name] : [])),
    );
    const disputed = readFileSync(join(cv(), 'disputed.csv'), 'utf8').trim().split('\n');
    assert.equal(disputed[0], 'image,given,suggested,confidence');
    const flagged = disputed.slice(1).map((l) => l.split(',')[0]!);
    const flips = new Set(noise.flipped.map((f: { image: string }) => f.image));
    const both = flagged.filter((f) => flips.has(f)).length;
    assert.equal(folds.labelNoise.both, both);
    assertClose(folds.labelNoise.recall, both / flips.size, 1e-12);
    if (flagged.length) assertClose(folds.labelNoise.precision, both / flagged.length, 1e-12);
    assert.equal(r.disputed.length, flagged.length);
    const confidences = disputed.slice(1).map((l) => Number(l.split(',')[3]));
    assert.deepEqual(
      confidences,
      [...confidences].sort((a, b) => b - a),
      'most confident first',
    );
  });

  test('--resume of an interrupted cross-validation (fold 0 finished, fold 1 stopped after an epoch, fold 2 not started) ends as the straight one', async () => {
    const resumed = join(root, 'cv-resumed');
    const c = { ...options(), out: resumed };
    (await training.train({ ...c, fold: 0, out: join(resumed, 'fold-0') }, { log: null })).model.dispose();
    (await training.train({ ...c, fold: 1, out: join(resumed, 'fold-1') }, { log: null, stopAfterEpochs: 1 })).model.dispose();
    const finished = statSync(join(resumed, 'fold-0', 'last.safetensors')).mtimeMs;
    const lines: string[] = [];
    await L.experiments.crossValidate(c, { log: (l) => lines.push(l), resume: true });
    assert.equal(statSync(join(resumed, 'fold-0', 'last.safetensors')).mtimeMs, finished, 'the finished fold is kept as it is');
    assert.match(lines.join('\n'), /resuming .*fold-1 at epoch 2/);
    assert.equal(readFileSync(join(resumed, 'oof.csv'), 'utf8'), readFileSync(join(cv(), 'oof.csv'), 'utf8'));
    for (let k = 0; k < 3; k++)
      for (const file of ['best.safetensors', 'last.safetensors'])
        assert.deepEqual(weightsOf(join(resumed, `fold-${k}`, file)), weightsOf(join(cv(), `fold-${k}`, file)), `fold ${k}, ${file}`);
    const folds = (dir: string) =>
      JSON.parse(readFileSync(join(dir, 'folds.json'), 'utf8')).perFold.map((f: { accuracy: number; nll: number }) => [f.accuracy, f.nll]);
    assert.deepEqual(folds(resumed), folds(cv()));
    // Without --resume, a fold folder that holds a run is refused, naming it.
    await assert.rejects(L.experiments.crossValidate(c, { log: () => {} }), /--out .*fold-0 already holds a run: --resume continues it/);
  });
});

test('compare --folds: every ε on the same folds and given labels, differences paired by fold, each ε a cross-validation folder', async () => {
  const out = join(root, 'compare-folds');
  const c = config(out, '--folds', '3', '--label-noise', '0.3', '--epochs', '1');
  const r = await L.experiments.compare(c, { smoothings: [0, 0.2], log: () => {} });
  assert.equal(r.runs.length, 6);
  const oof = (eps: number) => readOof(join(out, `smoothing-${eps}`, 'oof.csv'));
  const cols = (rows: ReturnType<typeof readOof>) => rows.map((x) => [x.image, x.label, x.fold]);
  assert.deepEqual(cols(oof(0.2)), cols(oof(0)), 'the same images, given labels and folds for both ε');
  assert.equal(oof(0).length, IMAGES);
  // Paired by fold: the mean of the per-fold differences.
  const acc = (eps: number) => [0, 1, 2].map((k) => r.runs.find((x) => x.smoothing === eps && x.fold === k)!.metrics.accuracy);
  const diff = r.differences.find((d) => d.metric === 'accuracy')!.difference;
  assert.equal(diff.n, 3);
  assertClose(diff.mean, acc(0.2).reduce((a, v, k) => a + v - acc(0)[k]!, 0) / 3, 1e-12);
  assert.deepEqual(
    r.outOfFold.map((o) => [o.smoothing, o.metrics.count, o.noise !== null]),
    [
      [0, IMAGES, true],
      [0.2, IMAGES, true],
    ],
  );
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.equal(summary.folds, 3);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /Over 3 folds/);
  assert.match(r.readings.join(' '), /over 3 folds/);
});
