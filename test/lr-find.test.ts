// The learning-rate range test (lsr lr-find, training.lrFind): the rates rise exponentially from
// start to end, the loss is smoothed as fastai smooths it, a diverging loss stops the sweep, the
// suggestion is read off the curve where it should be, the swept model is put back bit for bit,
// and the command writes its files and refuses a range that is no range, naming the option.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { training } from '../src/index.js';
import { parseTrainArgs } from '../src/cli/specs.js';
import { assertClose, distRoot, writeTinyLeaves } from './helpers.js';

let root = '';
let leaves = '';

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'lsr-lr-find-'));
  leaves = join(root, 'leaves');
  await writeTinyLeaves(leaves, ['acer', 'betula', 'quercus'], 30);
});
after(() => rmSync(root, { recursive: true, force: true }));

const RUN = ['--data', leaves, '--model', 'resnet20', '--image-size', '8', '--batch-size', '6', '--workers', '0', '--threads', '1', '--val-fraction', '0.25'];
const config = (...more: string[]) => parseTrainArgs('lr-find', [...RUN, '--precision', 'fp64', '--out', join(root, 'unused'), ...more]).config;

describe('the sweep, as pure functions', () => {
  test('the rates rise exponentially: the first is the start, the last the end, each the previous times one factor', () => {
    const lrs = training.lrSweep(1e-7, 10, 100);
    assert.equal(lrs.length, 100);
    assert.equal(lrs[0], 1e-7);
    assert.equal(lrs[99], 10);
    const factor = (10 / 1e-7) ** (1 / 99);
    assertClose(
      lrs.slice(1).map((lr, i) => lr / lrs[i]!),
      new Array(99).fill(factor),
      1e-9,
      'ratio',
    );
  });

  test("the loss is smoothed as fastai's SmoothLoss: a moving average with β = 0.98, bias-corrected", () => {
    // A constant loss is its own average from the first step (the correction undoes the zero start).
    assertClose(training.smoothLosses([3, 3, 3]), [3, 3, 3], 1e-12);
    assertClose(training.smoothLosses([1, 2]), [1, (0.98 * 0.02 * 1 + 0.02 * 2) / (1 - 0.98 ** 2)], 1e-12);
  });

  test('the suggestion: the steepest descent of the smoothed curve, and the minimum / 10, the noisy start and the divergence tail left out', () => {
    const lrs = training.lrSweep(1e-4, 1, 21);
    // The first tenth (2 points) falls steeper than anything and lower, as a few batches' average may; then flat, a steep fall
    // between points 4 and 5, a minimum at point 9, a rise; the last five (the tail) fall steeper still and lower.
    const curve = [9, 0.001, 1.99, 1.9, 1.6, 1.0, 0.8, 0.7, 0.65, 0.6, 0.61, 0.63, 0.7, 0.9, 1.2, 1.6, 0.2, 0.1, 0.05, 0.01, 0.001];
    const s = training.suggestLr(lrs, curve);
    assert.equal(s.steepest, lrs[4]);
    assert.equal(s.minimumOverTen, lrs[9]! / 10);
    assert.ok(s.steepest! >= lrs[0]! && s.steepest! <= lrs[20]!);
    assert.deepEqual(training.suggestLr([], []), { steepest: null, minimumOverTen: null });
    assert.deepEqual(training.suggestLr([0.1], [1]), { steepest: null, minimumOverTen: 0.01 });
    assert.deepEqual(training.suggestLr([0.1, 1], [1, 0.5]), { steepest: 0.1, minimumOverTen: 0.1 });
  });

  test('a smoothed loss past 4× its best stops the sweep early; so does a loss that is not finite', async () => {
    const lrs = training.lrSweep(1e-3, 1, 50);
    const rising = await training.runSweep(lrs, (_, i) => (i < 20 ? 1 : 100));
    assert.equal(rising.stopped, 'diverged');
    assert.ok(rising.lrs.length > 20 && rising.lrs.length < 50, `${rising.lrs.length} steps`);
    const last = rising.smoothed.length - 1;
    assert.ok(rising.smoothed[last]! > 4 * Math.min(...rising.smoothed.slice(0, last)));
    assert.ok(
      rising.smoothed.slice(0, last).every((v) => v <= 4 * 1 + 1e-12),
      'it stops at the first point past 4× the best',
    );
    const nan = await training.runSweep(lrs, (_, i) => (i < 5 ? 1 : null));
    assert.deepEqual([nan.stopped, nan.lrs.length], ['diverged', 5]);
    const flat = await training.runSweep(lrs, () => 1);
    assert.deepEqual([flat.stopped, flat.lrs.length], ['end', 50]);
  });
});

describe('lrFind on a run', () => {
  test("a Trainer's weights, BatchNorm statistics, optimizer state and progress are as before the sweep", async () => {
    const t = await training.Trainer.create(config(), { log: null, runFolder: false });
    try {
      // One step first: momentum buffers to keep, statistics moved from their defaults.
      t.enterEpoch(0);
      const batches = t.trainLoader.epoch(0);
      const first = (await batches.next()).value!;
      t.step(first, { epoch: 0, step: 1 });
      first.dispose();
      await batches.return(undefined);
      const numbers = () => new Map([...t.model.stateDict()].map(([k, v]) => [k, v.toFlatArray()]));
      const momentum = () => {
        const sd = t.optimizer.stateDict();
        const out = [...sd.state.values()].map((s) => (s.momentum_buffer as training.Classifier['fc']['weight']).toFlatArray());
        for (const s of sd.state.values()) for (const v of Object.values(s)) if (typeof v !== 'number') v.dispose();
        return out;
      };
      const before = { weights: numbers(), momentum: momentum(), lr: t.optimizer.paramGroups[0]!.lr, progress: structuredClone(t.progress) };
      assert.ok([...before.weights.keys()].some((k) => k.endsWith('running_mean')));
      const r = await training.lrFind(config(), { trainer: t, startLr: 1e-4, endLr: 1, steps: 8 });
      assert.equal(r.lrs.length, 8);
      assert.deepEqual(numbers(), before.weights);
      assert.deepEqual(momentum(), before.momentum);
      assert.equal(t.optimizer.paramGroups[0]!.lr, before.lr);
      assert.deepEqual(t.progress, before.progress);
      // The sweep did train: its losses are its own steps', at its rates.
      assert.equal(r.lrs[0], 1e-4);
      assert.equal(r.lrs[7], 1);
      assert.ok(r.losses.every(Number.isFinite));
      assert.ok(r.suggestion! >= 1e-5 && r.suggestion! <= 1, `suggestion ${r.suggestion}`);
      assert.equal(r.method, 'steepest');
      assert.equal(r.plan.precision, 'fp64');
    } finally {
      await t.close();
      t.model.dispose();
    }
  });

  test('a rate far too high diverges: the sweep stops early, with the points before it', async () => {
    const r = await training.lrFind(config('--precision', 'fp32'), { startLr: 1e-3, endLr: 1e8, steps: 40, log: null });
    assert.equal(r.stopped, 'diverged');
    assert.ok(r.lrs.length >= 2 && r.lrs.length < 40, `${r.lrs.length} steps`);
    assert.ok(r.suggestion! >= 1e-4 && r.suggestion! <= 1e8);
    // With no limit on the smoothed loss, the rates overflow float32's logits: the loss that is not finite ends the sweep, not the command.
    const blown = await training.lrFind(config('--precision', 'fp32'), { startLr: 1e10, endLr: 1e36, steps: 10, divergence: Infinity, log: null });
    assert.equal(blown.stopped, 'diverged');
    assert.ok(blown.lrs.length >= 1 && blown.lrs.length < 10 && blown.losses.every(Number.isFinite), `${blown.losses}`);
  });
});

const lsr = (...args: string[]) =>
  spawnSync(process.execPath, [join(distRoot, 'src', 'cli', 'main.js'), 'lr-find', ...args], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1' },
  });

describe('lsr lr-find', () => {
  test('writes lr-find.json, .svg and .png and prints the curve and the suggested rate', () => {
    const out = join(root, 'cli');
    const r = lsr(...RUN, '--steps', '12', '--start-lr', '1e-4', '--end-lr', '1', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['lr-find.json', 'lr-find.svg', 'lr-find.png']) assert.ok(existsSync(join(out, f)), f);
    const json = JSON.parse(readFileSync(join(out, 'lr-find.json'), 'utf8')) as training.LrFindResult;
    assert.equal(json.lrs.length, json.losses.length);
    assert.equal(json.smoothed.length, json.lrs.length);
    assert.equal(json.lrs[0], 1e-4);
    assert.ok(json.suggestion! >= 1e-5 && json.suggestion! <= 1);
    assert.match(r.stdout, /^smoothed loss [▁▂▃▄▅▆▇█]{12} {2}lr 1\.00e-4 → 1, log scale, 12 steps$/m);
    assert.match(r.stdout, /suggested --lr [\d.e-]+ \(the steepest descent of the smoothed loss; the minimum's rate \/ 10: [\d.e-]+\)/);
    assert.match(readFileSync(join(out, 'lr-find.svg'), 'utf8'), /steepest/);
    assert.match(r.stderr, /lr-find \[/);
    // Nothing of a training run is written: the folder holds the curve alone.
    assert.ok(!existsSync(join(out, 'config.json')) && !existsSync(join(out, '.lsr-lock')));
  });

  test('refuses a range that is no range and a sweep of no steps, naming the option', () => {
    const out = join(root, 'refused');
    const cases: Array<[string[], RegExp]> = [
      [['--start-lr', '1', '--end-lr', '1'], /--end-lr 1 must be above --start-lr 1/],
      [['--start-lr', '0.1', '--end-lr', '0.01'], /--end-lr 0\.01 must be above --start-lr 0\.1/],
      [['--start-lr', '0'], /--start-lr must be > 0, got 0/],
      [['--steps', '0'], /--steps must be an integer in \[2, 100000\], got 0/],
      [['--steps', '1.5'], /--steps must be an integer in \[2, 100000\], got 1\.5/],
    ];
    for (const [args, message] of cases) {
      const r = lsr(...RUN, '--out', out, ...args);
      assert.equal(r.status, 1, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
    assert.ok(!existsSync(out));
  });
});
