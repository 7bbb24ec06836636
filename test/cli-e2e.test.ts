// End to end on a tiny classify-leaves dataset written to a temp folder: lsr train, resume,
// eval, predict, compare, and the errors that must come before any training.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import * as L from '../src/index.js';
import { io, training } from '../src/index.js';
import { assertClose, distRoot } from './helpers.js';
import { parseTrainArgs } from '../src/cli/specs.js';

let root = '';
let leaves = '';
const CLASSES = ['acer_rubrum', 'betula_nigra', 'quercus_alba'];

const lsr = (...args: string[]) => lsrWith({}, ...args);
const lsrWith = (env: Record<string, string>, ...args: string[]) =>
  spawnSync(process.execPath, [join(distRoot, 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '2', ...env } });

/** Class c's images are mostly one colour, so that a few steps learn something. */
async function image(path: string, c: number, i: number): Promise<void> {
  const px = Buffer.alloc(32 * 32 * 3);
  for (let k = 0; k < px.length; k++) px[k] = (k % 3 === c ? 200 : 40) + ((k * 7 + i * 13) % 40);
  await sharp(px, { raw: { width: 32, height: 32, channels: 3 } })
    .jpeg()
    .toFile(path);
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'lsr-e2e-'));
  leaves = join(root, 'leaves');
  mkdirSync(join(leaves, 'images'), { recursive: true });
  let train = 'image,label\n';
  let test = 'image\n';
  for (let i = 0; i < 30; i++) {
    await image(join(leaves, 'images', `${i}.jpg`), i % 3, i);
    if (i < 24) train += `images/${i}.jpg,${CLASSES[i % 3]}\n`;
    else test += `images/${i}.jpg\n`;
  }
  writeFileSync(join(leaves, 'train.csv'), train);
  writeFileSync(join(leaves, 'test.csv'), test);
});
after(() => rmSync(root, { recursive: true, force: true }));

const common = (out: string) => [
  '--data',
  leaves,
  '--model',
  'resnet18',
  '--image-size',
  '32',
  '--batch-size',
  '6',
  '--lr',
  '0.01',
  '--workers',
  '0',
  '--val-fraction',
  '0.25',
  '--threads',
  '2',
  '--out',
  out,
];

describe('lsr train, eval, predict', () => {
  let run = '';
  before(() => {
    run = join(root, 'run');
  });

  test('train writes the config, vocabulary, metrics and both checkpoints', () => {
    const r = lsr('train', ...common(run), '--epochs', '2', '--smoothing', '0.1');
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['config.json', 'vocab.json', 'metrics.jsonl', 'last.safetensors', 'best.safetensors']) assert.ok(existsSync(join(run, f)), f);
    assert.deepEqual(JSON.parse(readFileSync(join(run, 'vocab.json'), 'utf8')).classes, CLASSES);
    const metrics = training.readMetrics(join(run, 'metrics.jsonl'));
    assert.equal(metrics.length, 2);
    for (const m of metrics) {
      for (const k of ['trainLoss', 'trainAccuracy', 'valLoss', 'valAccuracy', 'valTop5', 'valNll', 'valEce', 'lr', 'seconds', 'imagesPerSecond'] as const)
        assert.ok(Number.isFinite(m[k]), k);
      for (const k of ['trainAccuracy', 'valAccuracy', 'valTop5', 'valEce'] as const) assert.ok(m[k]! >= 0 && m[k]! <= 1, k);
      assert.equal(m.valTop5, 1); // 3 classes
    }
    assert.match(r.stderr, /epoch 2\/2: train loss [\d.]+ acc [\d.]+% \| val loss/);
  });

  test('eval writes metrics, confusions and a reliability diagram referenced by its HTML, in a folder per data and checkpoint', () => {
    const r = lsr('eval', '--run', run);
    assert.equal(r.status, 0, r.stderr);
    const dir = join(run, 'eval', 'val-best');
    const e = JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8'));
    assert.equal(e.count, 6);
    assert.equal(e.checkpoint, join(run, 'best.safetensors'));
    assert.ok(e.accuracy >= 0 && e.accuracy <= 1 && e.ece >= 0 && e.ece <= 1);
    assert.deepEqual(Object.keys(e.perClass), CLASSES);
    const html = readFileSync(join(dir, 'eval.html'), 'utf8');
    assert.match(html, /href="reliability\.svg"/);
    assert.ok(existsSync(join(dir, 'reliability.png')));
    // Another checkpoint and other data go to their own folders; the first eval stays.
    const last = lsr('eval', `--run=${run}`, '--checkpoint=last', '--data', leaves);
    assert.equal(last.status, 0, last.stderr);
    assert.equal(JSON.parse(readFileSync(join(run, 'eval', 'leaves-last', 'eval.json'), 'utf8')).checkpoint, join(run, 'last.safetensors'));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'eval.json'), 'utf8')), e);
    const wrong = lsr('eval', '--run', run, '--checkpoint', 'bset');
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /--checkpoint bset: .* has no bset\.safetensors \(it has: (best, last|last, best)\)/);
  });

  test('eval --data fashion-mnist-test refuses a run that was not trained on Fashion-MNIST', () => {
    const r = lsr('eval', '--run', run, '--data', 'fashion-mnist-test');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--data fashion-mnist-test: the run was trained on .*leaves, not fashion-mnist/);
  });

  test('predict writes a Kaggle submission with the original label strings, in test.csv order', () => {
    const out = join(root, 'submission.csv');
    const r = lsr('predict', '--run', run, '--data', join(leaves, 'test.csv'), '--out', out, '--tta');
    assert.equal(r.status, 0, r.stderr);
    const rows = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(rows[0], 'image,label');
    assert.deepEqual(
      rows.slice(1).map((l) => l.split(',')[0]),
      [24, 25, 26, 27, 28, 29].map((i) => `images/${i}.jpg`),
    );
    for (const l of rows.slice(1)) assert.ok(CLASSES.includes(l.split(',')[1]!), l);
    // Data-parallel: each of 2 ranks predicts its share; rank 0 writes the same file.
    const out2 = join(root, 'submission-2.csv');
    const r2 = lsr('predict', '--run', run, '--data', join(leaves, 'test.csv'), '--out', out2, '--tta', '--nproc', '2');
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(readFileSync(out2, 'utf8'), readFileSync(out, 'utf8'));
  });

  test('a loss that becomes NaN or infinite stops the run and keeps the last good checkpoint', () => {
    const out = join(root, 'diverged');
    const r = lsr('train', ...common(out), '--epochs', '3', '--lr', '1e12', '--scheduler', 'none');
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /lsr: the loss became (NaN|Infinity) at epoch \d+, batch \d+: training stopped; (the last good checkpoint is .*last\.safetensors|no epoch had finished, so there is no checkpoint)\. Likely cause: --lr 1000000000000 is \d+× the usual rate for --optimizer sgd at this batch \(0\.00234\): lower it$/m,
    );
  });

  test("--precision auto picks bf16 only where the CPU has it, and the run's config records the choice", () => {
    for (const [cpu, expected] of [
      ['0', 'fp32'],
      ['1', 'bf16'],
    ] as const) {
      const out = join(root, `precision-${cpu}`);
      const r = lsrWith({ LSR_CPU_BF16: cpu }, 'train', ...common(out), '--epochs', '1', '--precision', 'auto');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`precision: ${expected}.*\\(auto: LSR_CPU_BF16=${cpu}\\)`));
      assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).precision, expected);
      const e = lsrWith({ LSR_CPU_BF16: cpu }, 'eval', '--run', out);
      assert.equal(e.status, 0, e.stderr);
    }
    assert.match(lsr('train', ...common(join(root, 'bad')), '--precision', 'fp16').stderr, /--precision must be auto, fp32, bf16 or fp64, got "fp16"/);
  });

  test('bad options and weights that do not fit are errors before any training', () => {
    const bad = lsr('train', ...common(join(root, 'bad')), '--epochs', '0');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--epochs must be a positive integer, got 0/);
    assert.match(lsr('train', ...common(join(root, 'bad')), '--optimiser', 'sgd').stderr, /unknown option --optimiser/);
    const weights = join(root, 'wrong.safetensors');
    L.tidy(() => io.saveSafetensors(weights, { 'conv1.weight': L.zeros([8, 3, 3, 3]) }));
    const w = lsr('train', ...common(join(root, 'bad')), '--weights', weights);
    assert.equal(w.status, 1);
    assert.match(w.stderr, /--weights .*wrong\.safetensors does not fit the model/);
    assert.ok(!existsSync(join(root, 'bad', 'metrics.jsonl')));
  });
});

test('an --out that holds a run is refused unless --resume or --overwrite; --resume with changed options warns and records them', () => {
  const out = join(root, 'again');
  const first = lsr('train', ...common(out), '--epochs', '1');
  assert.equal(first.status, 0, first.stderr);
  const again = lsr('train', ...common(out), '--epochs', '1');
  assert.equal(again.status, 1);
  assert.match(again.stderr, /--out .*again already holds a run: --resume continues it, --overwrite starts it afresh, or choose another --out/);
  const resumed = lsr('train', ...common(out), '--epochs=2', '--lr', '0.02', '--resume');
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(
    resumed.stderr,
    /warning: --resume with options changed since the run started: --epochs 1 → 2, --lr 0\.01 → 0\.02 \(recorded in resumes\.jsonl\)/,
  );
  const recorded = readFileSync(join(out, 'resumes.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { epoch: number; changed: Array<{ key: string; was: unknown; now: unknown }> });
  assert.deepEqual(recorded, [
    {
      epoch: 1,
      step: 0,
      changed: [
        { key: 'epochs', was: 1, now: 2 },
        { key: 'lr', was: 0.01, now: 0.02 },
      ],
    },
  ]);
  const fresh = lsr('train', ...common(out), '--epochs', '1', '--overwrite');
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.equal(training.readMetrics(join(out, 'metrics.jsonl')).length, 1);
  assert.ok(!existsSync(join(out, 'resumes.jsonl')), 'a fresh start keeps no record of the old run');
});

describe('resume', () => {
  const config = (out: string) => parseTrainArgs('train', [...common(out), '--epochs', '2', '--optimizer', 'sgd']).config;
  const weights = (out: string) => {
    const c = training.loadCheckpoint(join(out, 'last.safetensors'));
    const m = c.model;
    return { m, dispose: () => c.dispose() };
  };
  const compare = (a: string, b: string) => {
    const [x, y] = [weights(a), weights(b)];
    try {
      for (const [k, t] of x.m) assert.ok(t.to('float64').sub(y.m.get(k)!.to('float64')).abs().max().item() <= 1e-6, k);
    } finally {
      x.dispose();
      y.dispose();
    }
  };

  test('stopped after epoch 1 and resumed, a run ends with the weights of a straight run', async () => {
    const straight = join(root, 'straight');
    const resumed = join(root, 'resumed');
    (await training.train(config(straight), { log: null })).model.dispose();
    const first = await training.train(config(resumed), { log: null, stopAfterEpochs: 1 });
    assert.equal(first.status, 'interrupted');
    first.model.dispose();
    (await training.train(config(resumed), { log: null, resume: true })).model.dispose();
    compare(straight, resumed);
    assert.deepEqual(
      training.readMetrics(join(resumed, 'metrics.jsonl')).map((m) => m.valAccuracy),
      training.readMetrics(join(straight, 'metrics.jsonl')).map((m) => m.valAccuracy),
    );
  });

  test('with Online Label Smoothing, its state travels in the checkpoint and resume ends the same', async () => {
    const ols = (out: string) => parseTrainArgs('train', [...common(out), '--epochs', '2', '--loss', 'online-label-smoothing', '--ols-alpha', '0.3']).config;
    const straight = join(root, 'ols-straight');
    const resumed = join(root, 'ols-resumed');
    (await training.train(ols(straight), { log: null })).model.dispose();
    (await training.train(ols(resumed), { log: null, stopAfterEpochs: 1 })).model.dispose();
    L.tidy(() => {
      const c = io.loadSafetensors(join(resumed, 'last.safetensors')).tensors;
      assert.deepEqual(c.get('loss.supervise')!.shape, [3, 3]);
      assertRowsSumToOne(c.get('loss.supervise')!);
    });
    (await training.train(ols(resumed), { log: null, resume: true })).model.dispose();
    compare(straight, resumed);
  });

  /** Ctrl-C before the first batch ends (the run checks after each batch), then --resume. */
  const interruptAndResume = async (c: training.TrainConfig) => {
    const controller = new AbortController();
    controller.abort();
    const first = await training.train(c, { log: null, signal: controller.signal });
    assert.equal(first.status, 'interrupted');
    first.model.dispose();
    (await training.train(c, { log: null, resume: true })).model.dispose();
  };

  test('interrupted after one batch (Ctrl-C) and resumed, the same', async () => {
    const interrupted = join(root, 'interrupted');
    await interruptAndResume(config(interrupted));
    compare(join(root, 'straight'), interrupted);
  });

  test('--scheduler onecycle steps per batch, and a run interrupted mid-epoch resumes to the same end', async () => {
    const onecycle = (out: string) => parseTrainArgs('train', [...common(out), '--epochs', '2', '--scheduler', 'onecycle']).config;
    const straight = join(root, 'onecycle-straight');
    (await training.train(onecycle(straight), { log: null })).model.dispose();
    // Each epoch's rate is that of its last batch under PyTorch's OneCycleLR, stepped once per batch.
    const perEpoch = Math.floor(18 / 6); // 18 training images of 24 (val-fraction 0.25), batch 6
    const reference = new L.optim.OneCycleLR(new L.optim.SGD([L.zeros([1], { requiresGrad: true })], { lr: 0.01, momentum: 0.9 }), 0.01, {
      totalSteps: 2 * perEpoch,
    });
    const expected = [perEpoch - 1, perEpoch].map((steps) => {
      for (let i = 0; i < steps; i++) reference.step();
      return reference.getLastLr()[0]!;
    });
    assertClose(
      training.readMetrics(join(straight, 'metrics.jsonl')).map((m) => m.lr),
      expected,
      1e-15,
    );
    assertClose(expected[1]!, 0.01 / 25 / 1e4, 1e-15); // the last batch runs at max_lr / (div_factor · final_div_factor)

    const interrupted = join(root, 'onecycle-interrupted');
    await interruptAndResume(onecycle(interrupted));
    compare(straight, interrupted);
  });
});

test('compare writes one report whose every figure exists', () => {
  const out = join(root, 'compare');
  const r = lsr('compare', ...common(out), '--epochs', '2', '--smoothing', '0,0.2');
  assert.equal(r.status, 0, r.stderr);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  const files = [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!);
  for (const f of ['accuracy', 'reliability-0', 'reliability-0.2', 'feature-norms']) {
    assert.ok(files.includes(`figures/${f}.svg`) && files.includes(`figures/${f}.png`), f);
    assert.ok(existsSync(join(out, 'figures', `${f}.svg`)) && existsSync(join(out, 'figures', `${f}.png`)), f);
  }
  assert.match(html, /<svg/);
  assert.match(html, /\(18 training and 6 validation images\)/);
  // Two validation images per class: a warning, not a projection to read a cluster from.
  assert.ok(!files.some((f) => f.includes('projection')));
  assert.match(
    html,
    /No projection for ε = 0: class \w+ has 2 validation images, class \w+ has 2 validation images, class \w+ has 2 validation images, fewer than 5, too few to show a cluster\./,
  );
  // What the numbers can carry: 6 images are ±40 points; temperature scaling is in-sample; the weights measured are the last epoch's.
  assert.match(html, /The validation split has 6 images: an accuracy measured on it is uncertain by about ±\d+\.\d points \(95%\)\. That is a small set/);
  assert.match(html, /fitted on the validation split it is scored on \(in-sample\)/);
  assert.match(html, /at the end of training \(epoch 2\)/);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.deepEqual(
    summary.map((s: { smoothing: number }) => s.smoothing),
    [0, 0.2],
  );
  assert.equal(summary[0].projectionClasses.length, 3);
  assert.match(r.stdout, /label smoothing \| val accuracy/);
});

test('compare --resume keeps the finished runs as they are and writes the report again', () => {
  const out = join(root, 'compare'); // the comparison of the test above
  const summary = readFileSync(join(out, 'summary.json'), 'utf8');
  const metrics = readFileSync(join(out, 'smoothing-0.2', 'metrics.jsonl'), 'utf8');
  rmSync(join(out, 'report.html'));
  const r = lsr('compare', ...common(out), '--epochs', '2', '--smoothing', '0,0.2', '--resume');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /resumed: the run continues from its last checkpoint, or is kept as it is/);
  assert.ok(existsSync(join(out, 'report.html')));
  assert.equal(readFileSync(join(out, 'smoothing-0.2', 'metrics.jsonl'), 'utf8'), metrics);
  assert.equal(readFileSync(join(out, 'summary.json'), 'utf8'), summary);
  assert.match(lsr('compare', ...common(out), '--resume', '--overwrite').stderr, /--resume continues the runs in --out and --overwrite starts them afresh/);
});

test('compare --seeds 2: each setting per seed, mean ± sd and paired differences in the terminal, the report and summary.json', () => {
  const out = join(root, 'compare-seeds');
  const r = lsr('compare', ...common(out), '--epochs', '1', '--smoothing', '0,0.2', '--seeds', '2');
  assert.equal(r.status, 0, r.stderr);
  for (const d of ['seed-0/smoothing-0', 'seed-0/smoothing-0.2', 'seed-1/smoothing-0', 'seed-1/smoothing-0.2'])
    assert.ok(existsSync(join(out, d, 'best.safetensors')), d);
  assert.match(r.stdout, /over 2 seeds \(0, 1\), mean ± sd:/);
  assert.match(r.stdout, /ε = 0\.2 − ε = 0, accuracy +[+-]\d+\.\d+ pt \(95% CI [+-]\d+\.\d+ pt to [+-]\d+\.\d+ pt, 2 seeds\): (inside|beyond) the noise/);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.deepEqual(summary.seeds, [0, 1]);
  assert.equal(summary.runs.length, 4);
  const acc = (eps: number) =>
    summary.runs.filter((x: { smoothing: number }) => x.smoothing === eps).map((x: { metrics: { accuracy: number } }) => x.metrics.accuracy);
  assertClose(summary.aggregate[1].accuracy.mean, (acc(0.2)[0] + acc(0.2)[1]) / 2, 1e-12);
  const diff = summary.differences.find((d: { metric: string }) => d.metric === 'accuracy').difference;
  assertClose(diff.mean, (acc(0.2)[0] - acc(0)[0] + acc(0.2)[1] - acc(0)[1]) / 2, 1e-12);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /Over 2 seeds \(0, 1\)/);
  assert.match(html, /Results, seed 0/);
  assert.match(html, /What these runs show/);
  assert.match(r.stdout, /ε = 0\.2 (raised|lowered) validation accuracy from [\d.]+% to [\d.]+% \([+-][\d.]+ pt, 95% CI .* over 2 seeds\)/);
  assert.match(lsr('compare', ...common(join(root, 'x')), '--seeds', '1,1').stderr, /--seeds names '1' twice in '1,1': give each value once/);
});

test('distill trains a hard-label and a smoothed teacher and a student of each', () => {
  const out = join(root, 'distill');
  const r = lsr('distill', ...common(out), '--epochs', '1', '--smoothing', '0.2', '--temperature', '3', '--beta', '0.7');
  assert.equal(r.status, 0, r.stderr);
  for (const name of ['teacher ε = 0', 'student of teacher ε = 0', 'teacher ε = 0.2', 'student of teacher ε = 0.2'])
    assert.match(r.stdout, new RegExp(`${name}\\s+[\\d.]+%`));
  for (const d of ['teacher-smoothing-0', 'student-of-0', 'teacher-smoothing-0.2', 'student-of-0.2'])
    assert.ok(existsSync(join(out, d, 'best.safetensors')), d);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /figures\/distill-accuracy\.png/);
  assert.match(
    r.stdout,
    /Its student reached [\d.]+% against [\d.]+% for the hard-label teacher's student \([+-][\d.]+ pt, one seed, no interval\): one seed cannot tell/,
  );
  const seeded = lsr('distill', ...common(join(root, 'distill-seeds')), '--epochs', '1', '--smoothing', '0.2', '--seeds', '2');
  assert.equal(seeded.status, 0, seeded.stderr);
  assert.match(seeded.stdout, /student of teacher ε = 0\.2\s+[\d.]+% ± [\d.]+/);
  assert.match(seeded.stdout, /student \([+-][\d.]+ pt, 95% CI [+-][\d.]+ pt to [+-][\d.]+ pt over 2 seeds\): (inside the noise|beyond the noise)/);
  assert.ok(existsSync(join(root, 'distill-seeds', 'seed-1', 'student-of-0.2', 'best.safetensors')));
  assert.match(readFileSync(join(root, 'distill-seeds', 'report.html'), 'utf8'), /NLL.*ECE/s);
  assert.match(lsr('distill', ...common(out), '--beta', '2').stderr, /--beta must be in \[0, 1\], got 2/);
});

function assertRowsSumToOne(t: L.Tensor): void {
  for (const v of t.sum(1).toFlatArray()) assert.ok(Math.abs(v - 1) < 1e-5, `row sum ${v}`);
}
