// Ensembles (issue 28, item 2): several runs' softmax probabilities averaged by eval and predict,
// each member with its own recipe; run folders found in a k-fold or comparison folder; members
// with other classes, or measured on other images, refused by name.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { F, type data, evaluation, tidy, training } from '../src/index.js';
import { parseTrainArgs } from '../src/cli/specs.js';
import { assertClose, distRoot, writeTinyLeaves } from './helpers.js';

let root = '';
let leaves = '';
/** Two runs on the same split (seed 0, ε 0 and 0.1: a comparison's pair) and one on another split at another image size. */
let hard = '';
let smooth = '';
let other = '';
const CLASSES = ['acer_rubrum', 'betula_nigra', 'quercus_alba'];

const lsr = (...args: string[]) =>
  spawnSync(process.execPath, [join(distRoot, 'src', 'cli', 'main.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1' },
    timeout: 120_000,
  });
const config = (out: string, extra: string[] = []) =>
  parseTrainArgs('train', [
    ...['--data', leaves, '--model', 'resnet18', '--image-size', '32', '--batch-size', '6', '--lr', '0.01', '--workers', '0'],
    ...['--val-fraction', '0.25', '--threads', '1', '--epochs', '1', '--out', out, ...extra],
  ]).config;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'lsr-ensemble-'));
  leaves = join(root, 'leaves');
  await writeTinyLeaves(leaves, CLASSES);
  hard = join(root, 'compare', 'smoothing-0');
  smooth = join(root, 'compare', 'smoothing-0.1');
  other = join(root, 'other');
  for (const [out, extra] of [
    [hard, ['--smoothing', '0']],
    [smooth, ['--smoothing', '0.1']],
    [other, ['--seed', '1', '--image-size', '24']],
  ] as const)
    (await training.train(config(out, [...extra]), { log: null })).model.dispose();
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A member alone, as lsr eval measures one run: its softmax probabilities and metrics. */
async function single(dir: string, images: data.SampleList, tta = false) {
  const run = training.loadRun(dir);
  const p = await training.predictLogits(run, images, { tta });
  run.model.dispose();
  const probs = tidy(() => F.softmax(p.logits.to('float64'), 1).toFlatArray());
  const metrics = evaluation.classificationMetrics(p.logits, p.labels);
  p.logits.dispose();
  p.labels.dispose();
  return { probs, metrics };
}

const images = () => training.loadDataset(leaves).dataset;

describe('ensemblePredict', () => {
  test("an ensemble's probabilities are the mean of its members' softmax probabilities, each with its own image size", async () => {
    for (const tta of [false, true]) {
      const all = images();
      const members = [hard, smooth, other];
      const p = await training.ensemblePredict(members, all, { tta });
      const alone = await Promise.all(members.map((m) => single(m, all, tta)));
      const mean = alone[0]!.probs.map((_, i) => alone.reduce((s, a) => s + a.probs[i]!, 0) / alone.length);
      assert.deepEqual(p.probabilities.shape, [all.length, CLASSES.length]);
      assertClose(p.probabilities.toFlatArray(), mean, 1e-9, `tta ${tta}`);
      // The members differ (or a mean of one member repeated would pass).
      assert.ok(alone[0]!.probs.some((v, i) => Math.abs(v - alone[2]!.probs[i]!) > 1e-3));
      assert.deepEqual(
        p.members.map((m) => m.dir),
        members,
      );
      // Each member's own metrics are those of the run alone; the gain is the ensemble's minus the best's.
      const e = training.evaluateEnsemble(p);
      for (const [i, m] of e.members.entries())
        assertClose([m.metrics.accuracy, m.metrics.nll, m.metrics.ece], [alone[i]!.metrics.accuracy, alone[i]!.metrics.nll, alone[i]!.metrics.ece], 1e-9);
      const best = e.members[e.best]!.metrics;
      assert.ok(e.members.every((m) => m.metrics.accuracy <= best.accuracy));
      assertClose(e.gain.overBest.nll, e.ensemble.nll - best.nll, 1e-12);
      const nll = -[...p.labels.toFlatArray()].reduce((s, y, r) => s + Math.log(mean[r * 3 + y]!), 0) / all.length;
      assertClose(e.ensemble.nll, nll, 1e-9, 'NLL of the mean probabilities');
      training.disposeEnsemble(p);
    }
  });

  test('an ensemble of one is the run alone', async () => {
    const all = images();
    const p = await training.ensemblePredict([other], all);
    const alone = await single(other, all);
    assertClose(p.probabilities.toFlatArray(), alone.probs, 1e-12);
    const e = training.evaluateEnsemble(p);
    for (const k of ['accuracy', 'top5', 'nll', 'ece'] as const) assertClose(e.ensemble[k], alone.metrics[k], 1e-9, k);
    assert.deepEqual(e.gain.overBest, { accuracy: 0, nll: e.ensemble.nll - alone.metrics.nll, ece: e.ensemble.ece - alone.metrics.ece });
    training.disposeEnsemble(p);
  });

  test('members whose classes differ are refused, naming both runs and the first class that differs', async () => {
    const edited = join(root, 'edited-vocab');
    cpSync(other, edited, { recursive: true });
    writeFileSync(join(edited, 'vocab.json'), JSON.stringify({ classes: ['acer_rubrum', 'quercus_alba', 'betula_nigra'] }));
    await assert.rejects(
      training.ensemblePredict([hard, edited], images()),
      (e: Error & { code?: string }) =>
        e.code === 'LSR_BAD_INPUT' &&
        e.message.includes(`the ensemble's runs ${hard} and ${edited} have different classes`) &&
        e.message.includes(`class 1 is "betula_nigra" in ${hard} but "quercus_alba" in ${edited}`),
    );
    assert.throws(
      () =>
        training.checkMemberClasses([
          { dir: 'a', classes: ['x', 'y'] },
          { dir: 'b', classes: ['x', 'y', 'z'] },
        ]),
      /runs a and b have different classes \(2 and 3; class 2 is nothing \(its list ends there\) in a but "z" in b\)/,
    );
    training.checkMemberClasses([
      { dir: 'a', classes: ['x', 'y'] },
      { dir: 'b', classes: ['x', 'y'] },
    ]);
  });
});

describe('run folders found in a folder of runs', () => {
  const make = (dir: string, file = 'config.json') => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, file), '{}');
  };

  test("a k-fold run's fold-*/ in natural order, a comparison's smoothing-ε/ and seed-S/smoothing-ε/, a run itself", () => {
    const folds = join(root, 'find', 'folds');
    for (const k of [0, 1, 10, 2]) make(join(folds, `fold-${k}`), k === 2 ? 'vocab.json' : 'config.json');
    mkdirSync(join(folds, 'logs')); // not a run: skipped
    writeFileSync(join(folds, 'disputed.csv'), 'image\n');
    assert.deepEqual(
      training.findRunFolders(folds),
      [0, 1, 2, 10].map((k) => join(folds, `fold-${k}`)),
    );
    const cmp = join(root, 'find', 'compare');
    for (const e of ['0.1', '0', '0.05']) make(join(cmp, `smoothing-${e}`));
    assert.deepEqual(
      training.findRunFolders(cmp),
      ['0', '0.05', '0.1'].map((e) => join(cmp, `smoothing-${e}`)),
    );
    const seeds = join(root, 'find', 'seeds');
    for (const s of [0, 1]) for (const e of ['0', '0.1']) make(join(seeds, `seed-${s}`, `smoothing-${e}`));
    assert.deepEqual(training.findRunFolders(seeds), [
      join(seeds, 'seed-0', 'smoothing-0'),
      join(seeds, 'seed-0', 'smoothing-0.1'),
      join(seeds, 'seed-1', 'smoothing-0'),
      join(seeds, 'seed-1', 'smoothing-0.1'),
    ]);
    assert.deepEqual(training.findRunFolders(join(folds, 'fold-1')), [join(folds, 'fold-1')]);
    // --run repeated and comma lists, each run once.
    assert.deepEqual(training.ensembleMembers([`${join(folds, 'fold-0')},${join(folds, 'fold-1')}`, join(cmp, 'smoothing-0')]), [
      join(folds, 'fold-0'),
      join(folds, 'fold-1'),
      join(cmp, 'smoothing-0'),
    ]);
    assert.throws(() => training.ensembleMembers([folds, join(folds, 'fold-1')]), /--run names the run .*fold-1 twice: give each run once/);
    mkdirSync(join(root, 'find', 'empty', 'nothing'), { recursive: true });
    assert.throws(
      () => training.findRunFolders(join(root, 'find', 'empty')),
      /--run .*empty: not a run folder \(no config\.json or vocab\.json\) and no run folder in it/,
    );
    assert.throws(() => training.findRunFolders(join(root, 'find', 'missing')), /--run .*missing: no config\.json, no such folder/);
  });
});

describe('lsr predict and eval with several runs', () => {
  test('predict --run FOLDER: the submission is the argmax of the mean probabilities, written beside it, each row summing to 1', () => {
    const out = join(root, 'sub', 'submission.csv');
    mkdirSync(join(root, 'sub'));
    const r = lsr('predict', '--run', join(root, 'compare'), '--run', other, '--data', join(leaves, 'test.csv'), '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`ensemble of 3 runs \\(the mean of their probabilities\\): ${hard}, ${smooth}, ${other}`));
    const probs = readFileSync(join(root, 'sub', 'submission-probs.csv'), 'utf8')
      .trim()
      .split('\n');
    assert.equal(probs[0], `image,${CLASSES.join(',')}`);
    const sub = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(probs.length, sub.length);
    assert.equal(sub.length, 7);
    for (const [i, line] of probs.slice(1).entries()) {
      const [name, ...cells] = line.split(',');
      const p = cells.map(Number);
      assert.equal(name, sub[i + 1]!.split(',')[0]);
      assertClose(
        p.reduce((a, b) => a + b, 0),
        1,
        1e-8,
        `row ${i + 1}`,
      );
      assert.equal(sub[i + 1]!.split(',')[1], CLASSES[p.indexOf(Math.max(...p))]);
    }
    // --probs names the file; a run's file is refused as an output.
    const named = join(root, 'sub', 'p.csv');
    assert.equal(lsr('predict', '--run', `${hard},${other}`, '--data', join(leaves, 'test.csv'), '--out', out, '--probs', named).status, 0);
    assert.equal(readFileSync(named, 'utf8').split('\n').length, 8);
    const bad = lsr('predict', '--run', `${hard},${other}`, '--data', join(leaves, 'test.csv'), '--out', out, '--probs', join(hard, 'vocab.json'));
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--probs .*vocab\.json/);
  });

  test("eval --run FOLDER: the ensemble's and each member's metrics, its gain over the best, in eval.json and the terminal", () => {
    const r = lsr('eval', '--run', join(root, 'compare'));
    assert.equal(r.status, 0, r.stderr);
    const dir = join(root, 'compare', 'eval', 'ensemble-val-best');
    const e = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8'));
    assert.deepEqual(
      e.runs.map((x: { run: string }) => x.run),
      [hard, smooth],
    );
    assert.equal(e.count, 6);
    const best = e.runs.find((x: { run: string }) => x.run === e.bestRun);
    assertClose(e.gain.overBest.accuracy, e.accuracy - best.accuracy, 1e-12);
    assert.match(r.stdout, /ensemble of 2 +\| +6 \|/);
    assert.match(r.stdout, /The ensemble against its best member \(.*\): [+−]\d+\.\d\d pt accuracy, NLL [+−]/);
    const rows = readFileSync(join(dir, 'probs.csv'), 'utf8').trim().split('\n');
    assert.equal(rows.length, 7);
    // The members must be measured on the same images: another seed's validation split is refused.
    const split = lsr('eval', '--run', hard, '--run', other, '--out', join(root, 'never'));
    assert.equal(split.status, 1);
    assert.match(split.stderr, new RegExp(`${other} would be measured on other images than ${hard} .*name the images with --data`));
    // Runs in different folders need --out; on --data they may differ in split and image size.
    assert.match(lsr('eval', '--run', hard, '--run', other, '--data', leaves).stderr, /in different folders .*--out/);
    const out = join(root, 'ens-eval');
    assert.equal(lsr('eval', '--run', hard, '--run', other, '--data', leaves, '--out', out).status, 0);
    assert.equal(JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8')).count, 24);
  });
});
