// The Trainer's seams: a model registered from outside, gradient accumulation (the same update as
// the whole batch), the weights' moving average (timm's ModelEmaV2, by hand), callbacks, training
// without validation, and a split that would leave a class without training images.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import * as L from '../src/index.js';
import { io, nn, training } from '../src/index.js';
import { parseTrainArgs } from '../src/cli/specs.js';
import { TinyMlp, distRoot } from './helpers.js';

let root = '';
let leaves = '';
const CLASSES = ['acer', 'betula', 'quercus'];

before(async () => {
  training.MODELS.register('test-mlp', { build: ({ numClasses }) => new TinyMlp(numClasses) });
  root = mkdtempSync(join(tmpdir(), 'lsr-trainer-'));
  leaves = join(root, 'leaves');
  mkdirSync(join(leaves, 'images'), { recursive: true });
  let csv = 'image,label\n';
  for (let i = 0; i < 36; i++) {
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

const config = (out: string, ...more: string[]) =>
  parseTrainArgs('train', [
    '--data',
    leaves,
    '--model',
    'test-mlp',
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
    '--val-fraction',
    '0.25',
    '--out',
    out,
    ...more,
  ]).config;

const weightsOf = (path: string, prefix = 'model.') => {
  const file = io.loadSafetensors(path);
  const out = new Map<string, number[]>();
  for (const [k, t] of file.tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), t.toFlatArray());
  for (const t of file.tensors.values()) t.dispose();
  return out;
};
const worstDifference = (a: Map<string, number[]>, b: Map<string, number[]>) => {
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  let worst = 0;
  for (const [k, v] of a) for (const [i, x] of v.entries()) worst = Math.max(worst, Math.abs(x - b.get(k)![i]!));
  return worst;
};

describe('gradient accumulation', () => {
  test('--accumulate 2 and 3 give the weights and metrics of whole batches (float64, no BatchNorm)', async () => {
    const runs = [1, 2, 3].map((n) => join(root, `accumulate-${n}`));
    for (const [i, out] of runs.entries()) (await training.train(config(out, '--accumulate', String(i + 1)), { log: null })).model.dispose();
    const whole = weightsOf(join(runs[0]!, 'last.safetensors'));
    for (const out of runs.slice(1)) {
      const worst = worstDifference(whole, weightsOf(join(out, 'last.safetensors')));
      assert.ok(worst < 1e-12, `${out}: max weight difference ${worst}`);
      const [a, b] = [runs[0]!, out].map((r) => training.readMetrics(join(r, 'metrics.jsonl')));
      for (const k of ['trainLoss', 'trainAccuracy', 'valNll'] as const) assert.ok(Math.abs(a![1]![k]! - b![1]![k]!) < 1e-12, k);
    }
    // The runs moved: equal weights are not two untouched initialisations.
    L.manualSeed(0);
    const init = new TinyMlp(3);
    const moved = Math.max(
      ...init
        .stateDict()
        .get('hidden.weight')!
        .toFlatArray()
        .map((v, i) => Math.abs(v - whole.get('hidden.weight')![i]!)),
    );
    init.dispose();
    assert.ok(moved > 1e-3, `moved ${moved}`);
  });

  test('--accumulate must divide the batch, checked before training', () => {
    assert.throws(() => config(join(root, 'x'), '--accumulate', '4'), /--accumulate must divide --batch-size 6, got 4/);
    assert.throws(() => config(join(root, 'x'), '--accumulate', '0'), /--accumulate must be a positive integer, got 0/);
  });
});

describe('--ema: a moving average of the weights', () => {
  test("after every step the average is decay·ema + (1 − decay)·weights (timm's ModelEmaV2), and it is what validation and eval measure", async () => {
    const decay = 0.7;
    const out = join(root, 'ema');
    const steps: Array<Map<string, number[]>> = [];
    const snapshot = (t: training.Trainer) => new Map([...t.model.stateDict()].map(([k, v]) => [k, v.toFlatArray()]));
    const watcher: training.TrainerCallbacks = {
      onEpochStart: (t, epoch) => void (epoch === 0 && steps.push(snapshot(t))),
      onStep: (t) => void steps.push(snapshot(t)),
    };
    const run = await training.train(config(out, '--ema', String(decay)), { log: null, callbacks: [watcher] });
    run.model.dispose();
    assert.equal(steps.length, 1 + 2 * 4); // the initial weights, then 27 images in 4 batches of 6 (the last part dropped), twice
    const expected = new Map([...steps[0]!].map(([k, v]) => [k, [...v]]));
    for (const w of steps.slice(1)) for (const [k, e] of expected) for (const [i, x] of e.entries()) e[i] = decay * x + (1 - decay) * w.get(k)![i]!;
    const saved = weightsOf(join(out, 'last.safetensors'), 'ema.');
    assert.ok(worstDifference(expected, saved) < 1e-15, `ema off by ${worstDifference(expected, saved)}`);
    // The average is not the trained weights.
    assert.ok(worstDifference(saved, weightsOf(join(out, 'last.safetensors'))) > 1e-3);
    // The epoch's validation metrics are the average's; the trained weights' accuracy is beside them.
    const [, last] = training.readMetrics(join(out, 'metrics.jsonl'));
    assert.equal(typeof last!.modelValAccuracy, 'number');
    const loaded = training.loadRun(out, 'last');
    const val = training.splitData(loaded.config).val;
    const { logits, labels } = await training.predictLogits(loaded, val);
    const nll = L.tidy(() => L.crossEntropy(logits, labels).item());
    for (const t of [logits, labels]) t.dispose();
    loaded.model.dispose();
    assert.ok(Math.abs(nll - last!.valNll!) < 1e-12, `eval of the run's model: NLL ${nll} vs the epoch's ${last!.valNll}`);
  });

  test('the average travels in the checkpoint: stopped after epoch 1 and resumed, the same end', async () => {
    const straight = join(root, 'ema-straight');
    const resumed = join(root, 'ema-resumed');
    (await training.train(config(straight, '--ema', '0.9'), { log: null })).model.dispose();
    (await training.train(config(resumed, '--ema', '0.9'), { log: null, stopAfterEpochs: 1 })).model.dispose();
    (await training.train(config(resumed, '--ema', '0.9'), { log: null, resume: true })).model.dispose();
    assert.equal(worstDifference(weightsOf(join(straight, 'last.safetensors'), 'ema.'), weightsOf(join(resumed, 'last.safetensors'), 'ema.')), 0);
  });

  test('--ema changes no other number: the trained weights are those of a run without it', async () => {
    const plain = join(root, 'no-ema');
    (await training.train(config(plain), { log: null })).model.dispose();
    assert.equal(worstDifference(weightsOf(join(plain, 'last.safetensors')), weightsOf(join(root, 'ema-straight', 'last.safetensors'))), 0);
  });
});

describe('the Trainer as parts', () => {
  test('set-up, then step() by hand, then validate(): what fit() does, one piece at a time', async () => {
    const t = await training.Trainer.create(config(join(root, 'by-hand')), { log: null });
    try {
      t.model.train();
      let images = 0;
      for await (const batch of t.trainLoader.epoch(0)) {
        const { read } = t.step(batch, { epoch: 0, step: 1 });
        batch.dispose();
        // On the CPU every step reads its sums.
        assert.ok(read && Number.isFinite(read.loss) && read.count === batch.indices.length);
        images += read.count;
      }
      assert.equal(images, t.data.train.length - (t.data.train.length % 6));
      const v = await t.validate();
      assert.ok(v && v.valAccuracy! >= 0 && v.valAccuracy! <= 1);
    } finally {
      await t.close();
      t.model.dispose();
    }
  });

  test('a loss registered from outside is chosen by --loss', async () => {
    let calls = 0;
    training.LOSSES.register('test-counting', (o) => {
      const ce = new training.SmoothedCrossEntropy(o.smoothing);
      return {
        loss: (logits, b) => {
          calls++;
          return ce.loss(logits, b);
        },
      };
    });
    (await training.train(config(join(root, 'own-loss'), '--loss', 'test-counting', '--epochs', '1'), { log: null })).model.dispose();
    assert.equal(calls, 4);
    assert.throws(() => config(join(root, 'x'), '--loss', 'nope'), /--loss must be one of cross-entropy, online-label-smoothing, test-counting/);
  });
});

const lsr = (...args: string[]) =>
  spawnSync(process.execPath, [join(distRoot, 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
const cliRun = ['--data', '', '--model', 'resnet18', '--image-size', '32', '--batch-size', '6', '--epochs', '1', '--workers', '0', '--threads', '1'];

describe('--mixup and --cutmix', () => {
  test("each step minimises the soft-target cross-entropy of the batch mixed with its reverse (timm's), ε folded in; the same seed mixes alike", async () => {
    for (const flags of [
      ['--mixup', '0.8'],
      ['--cutmix', '1'],
      ['--mixup', '0.8', '--cutmix', '1', '--accumulate', '2'],
    ]) {
      const t = await training.Trainer.create(config(join(root, `mix-${flags.join('')}`), ...flags, '--smoothing', '0.1'), { log: null });
      const mixup = new L.data.Mixup({
        mixupAlpha: t.config.mixup,
        cutmixAlpha: t.config.cutmix,
        labelSmoothing: 0.1,
        numClasses: 3,
        seed: t.config.seed,
      });
      try {
        t.model.train();
        let step = 0;
        for await (const batch of t.trainLoader.epoch(0)) {
          step++;
          // The loss by hand, on the weights before the step (no BatchNorm: a second forward changes nothing).
          const expected = L.tidy(() => {
            const m = mixup.apply(batch.x, batch.y, 0, step);
            return L.crossEntropy(training.logitsIn(t.precision, t.model, m.x), m.target).item();
          });
          const s = t.step(batch, { epoch: 0, step }).read!;
          batch.dispose();
          assert.ok(Math.abs(s.loss / s.count - expected) < 1e-12, `${flags.join(' ')}: step ${step} loss ${s.loss / s.count} against ${expected}`);
        }
        assert.ok(step > 1);
      } finally {
        await t.close();
        t.model.dispose();
      }
    }
    // A mixed run ends elsewhere than an unmixed one, and two mixed runs alike.
    const run = async (out: string, ...more: string[]) => (await training.train(config(join(root, out), ...more), { log: null })).model.dispose();
    await run('mix-a', '--mixup', '0.8');
    await run('mix-b', '--mixup', '0.8');
    await run('mix-none');
    const last = (out: string) => weightsOf(join(root, out, 'last.safetensors'));
    assert.equal(worstDifference(last('mix-a'), last('mix-b')), 0);
    assert.ok(worstDifference(last('mix-a'), last('mix-none')) > 1e-3);
  });

  test('they mix cross-entropy targets only: another loss or distillation is refused, naming the option', () => {
    assert.throws(() => config(join(root, 'x'), '--mixup', '0.8', '--loss', 'online-label-smoothing'), /--mixup mixes the targets of --loss cross-entropy/);
    assert.throws(() => config(join(root, 'x'), '--cutmix', '-1'), /--cutmix must be ≥ 0/);
  });
});

describe('--val-fraction 0: a final fit on every labelled image', () => {
  test('trains on all of them, says validation is skipped, writes last and no best; eval and predict use last', () => {
    const out = join(root, 'final-fit');
    const r = lsr('train', ...cliRun.map((a) => a || leaves), '--val-fraction', '0', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /no validation \(--val-fraction 0\): every labelled image trains/);
    assert.match(r.stderr, /epoch 1\/1: train loss [\d.]+ acc [\d.]+% \| no validation/);
    assert.ok(existsSync(join(out, 'last.safetensors')) && !existsSync(join(out, 'best.safetensors')));
    const [m] = training.readMetrics(join(out, 'metrics.jsonl'));
    assert.equal(m!.valAccuracy, null);
    assert.ok(Number.isFinite(m!.trainLoss));
    const e = lsr('eval', '--run', out);
    assert.equal(e.status, 1);
    assert.match(e.stderr, /trained without validation \(--val-fraction 0\): name labelled images with --data/);
    const e2 = lsr('eval', `--run=${out}`, '--data', leaves);
    assert.equal(e2.status, 0, e2.stderr);
    const ev = JSON.parse(readFileSync(join(out, 'eval', 'leaves-last', 'eval.json'), 'utf8'));
    assert.equal(ev.count, 36);
    assert.equal(ev.checkpoint, join(out, 'last.safetensors'));
    const c = lsr('compare', ...cliRun.map((a) => a || leaves), '--val-fraction', '0', '--out', join(root, 'cmp0'));
    assert.equal(c.status, 1);
    assert.match(c.stderr, /--val-fraction 0: a comparison measures every setting on the validation split/);
  });

  test('a split that leaves a class without training images is refused before training, naming the class', () => {
    const data = join(leaves, 'lopsided.csv');
    writeFileSync(data, `image,label\n${Array.from({ length: 12 }, (_, i) => `images/${i}.png,${i < 11 ? CLASSES[i % 2] : 'rare'}`).join('\n')}\n`);
    const r = lsr('train', ...cliRun.map((a) => a || data), '--val-fraction', '0.5', '--out', join(root, 'lopsided-run'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--val-fraction 0.5 leaves no training image of class "rare" in .*lopsided/);
    assert.ok(!existsSync(join(root, 'lopsided-run', 'config.json')));
  });

  test('--nproc that does not divide --batch-size is refused before any worker starts', () => {
    const r = lsr('train', '--nproc', '4', '--batch-size', '6', '--out', join(root, 'np'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^lsr: --batch-size 6 must be a multiple of the 4 processes \(--nproc 4\)/);
    assert.doesNotMatch(r.stderr, /rank/);
  });
});

describe('checkpoints', () => {
  const epochOf = (path: string) => {
    const c = training.loadCheckpoint(path);
    const epoch = c.meta.progress.epoch;
    c.dispose();
    return epoch;
  };

  test('best is written before last: a failure writing best leaves last at the previous epoch, which a resume redoes', async () => {
    const out = join(root, 'best-fails');
    // A rate too small to change a prediction: every epoch ties the best accuracy, so every epoch writes best.
    const c = config(out, '--lr', '1e-12');
    (await training.train(c, { log: null, stopAfterEpochs: 1 })).model.dispose();
    assert.equal(epochOf(join(out, 'last.safetensors')), 1);
    rmSync(join(out, 'best.safetensors'));
    mkdirSync(join(out, 'best.safetensors', 'in-the-way'), { recursive: true }); // the rename onto it fails
    await assert.rejects(training.train(c, { log: null, resume: true }), /best\.safetensors/);
    assert.equal(epochOf(join(out, 'last.safetensors')), 1, 'last moved on although best was not written');
    rmSync(join(out, 'best.safetensors'), { recursive: true });
    (await training.train(c, { log: null, resume: true })).model.dispose();
    assert.equal(epochOf(join(out, 'best.safetensors')), 2);
    assert.equal(epochOf(join(out, 'last.safetensors')), 2);
  });

  test('a checkpoint whose position or optimizer state does not fit the run is refused, naming the file and field', async () => {
    const source = join(root, 'tamper-source');
    const c = (out: string) => config(out, '--epochs', '4');
    (await training.train(c(source), { log: null, stopAfterEpochs: 1 })).model.dispose();
    const cases: Array<[string, (meta: Record<string, unknown>, tensors: Map<string, L.Tensor>) => void, RegExp]> = [
      ['epoch 99', (m) => ((m.progress as Record<string, unknown>).epoch = 99), /progress\.epoch is past the run's 4 epochs, got 99/],
      ['epoch -1', (m) => ((m.progress as Record<string, unknown>).epoch = -1), /progress\.epoch must be an integer ≥ 0, got -1/],
      ['epoch "2"', (m) => ((m.progress as Record<string, unknown>).epoch = '2'), /progress\.epoch must be an integer ≥ 0, got "2"/],
      ['step 1000', (m) => ((m.progress as Record<string, unknown>).step = 1000), /progress\.step is past the epoch's 4 batches, got 1000/],
      ['progress null', (m) => (m.progress = null), /progress must be an object, got null/],
      ['sums missing', (m) => delete (m.progress as Record<string, unknown>).sums, /progress\.sums must be an object/],
      [
        'a momentum buffer missing',
        (_, t) => t.delete('optimizer.1.momentum_buffer'),
        /the optimizer state of parameter 1 lacks 'momentum_buffer' \(optimizer\.1\.momentum_buffer\)/,
      ],
    ];
    for (const [name, change, message] of cases) {
      const out = join(root, `tamper-${name.replace(/\W+/g, '-')}`);
      cpSync(source, out, { recursive: true });
      const file = io.loadSafetensors(join(out, 'last.safetensors'));
      const meta = JSON.parse(file.metadata.lsr!) as Record<string, unknown>;
      change(meta, file.tensors);
      io.saveSafetensors(join(out, 'last.safetensors'), file.tensors, { ...file.metadata, lsr: JSON.stringify(meta) });
      for (const t of file.tensors.values()) t.dispose();
      await assert.rejects(training.train(c(out), { log: null, resume: true }), (e: Error) => {
        assert.match(e.message, new RegExp(`${join(out, 'last.safetensors').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `), name);
        assert.match(e.message, message, name);
        return true;
      });
    }
  });
});

describe('the run folder (issue 17, item 9)', () => {
  test('an --out that holds a run is refused before the data is read (a statistics pass, a decode of every image)', async () => {
    const data = join(root, 'leaves-one-bad');
    cpSync(leaves, data, { recursive: true });
    writeFileSync(join(data, 'images', '0.png'), 'not a PNG');
    const out = join(root, 'held');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'config.json'), '{}');
    const held = { ...config(out), data, normalize: 'dataset' };
    await assert.rejects(training.Trainer.create(held, { log: null }), /--out .*held already holds a run/);
    // With --overwrite, the data is read, and its bad image named.
    await assert.rejects(training.Trainer.create(held, { log: null, overwrite: true }), /0\.png/);
  });

  test('an --out that cannot be a folder is refused before any work, naming it; a failed write names the file', async () => {
    const blocker = join(root, 'a-file');
    writeFileSync(blocker, '');
    const out = join(blocker, 'run');
    await assert.rejects(training.train(config(out), { log: null }), (e: Error) => {
      assert.ok(e instanceof L.BadInputError, e.message);
      assert.match(e.message, new RegExp(`^--out ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot hold the run: `));
      return true;
    });
    assert.throws(
      () => io.writeFileAtomic(join(blocker, 'x.json'), '{}'),
      (e: Error & { code?: string }) => {
        assert.match(e.message, /a-file\/x\.json: could not be written \(EEXIST: file already exists, mkdir /);
        assert.equal(e.code, 'EEXIST');
        return true;
      },
    );
  });

  test('temporary files a killed run left are removed at the next start; a live process keeps its own', async () => {
    const out = join(root, 'stale');
    mkdirSync(out, { recursive: true });
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!; // a process that has exited
    writeFileSync(join(out, `.config.json.${gone}.tmp`), 'half');
    writeFileSync(join(out, `.other.json.${process.pid}.tmp`), 'mine');
    const lines: string[] = [];
    (await training.train(config(out, '--epochs', '1'), { log: (l) => lines.push(l), overwrite: true })).model.dispose();
    assert.ok(!existsSync(join(out, `.config.json.${gone}.tmp`)));
    assert.ok(existsSync(join(out, `.other.json.${process.pid}.tmp`)));
    assert.ok(lines.some((l) => l.includes(`removed 1 temporary file a killed run left in ${out}: .config.json.${gone}.tmp`)));
  });
});

describe('devices (issue 16)', () => {
  const metricsOf = (out: string) => training.readMetrics(join(out, 'metrics.jsonl')).map(({ seconds: _s, imagesPerSecond: _i, wallSeconds: _w, ...m }) => m);

  test("the GPU's feed — uint8 pixels copied one batch ahead, normalised by the trainer — trains to the same bytes as the workers' float32, resumed too", async () => {
    const floats = join(root, 'feed-float');
    const pixels = join(root, 'feed-uint8');
    const resumed = join(root, 'feed-uint8-resumed');
    (await training.train(config(floats, '--workers', '2'), { log: null })).model.dispose();
    (await training.train(config(pixels, '--workers', '2'), { log: null, uint8Batches: true })).model.dispose();
    (await training.train(config(resumed), { log: null, uint8Batches: true, stopAfterEpochs: 1 })).model.dispose();
    (await training.train(config(resumed), { log: null, uint8Batches: true, resume: true })).model.dispose();
    for (const out of [pixels, resumed]) {
      assert.deepEqual(metricsOf(out), metricsOf(floats), out);
      assert.equal(worstDifference(weightsOf(join(out, 'last.safetensors')), weightsOf(join(floats, 'last.safetensors'))), 0, out);
    }
  });

  test("a GPU's step reads nothing from the device: the loss and accuracy read every N steps are the same sums, the weights the same bytes", async () => {
    const every = join(root, 'read-every-step');
    const deferred = join(root, 'read-every-4');
    const steps: number[][] = [[], []];
    const watch = (k: number): training.TrainerCallbacks => ({ onStep: (_, s) => steps[k]!.push(s.step) });
    (await training.train(config(every, '--accumulate', '2'), { log: null, callbacks: [watch(0)] })).model.dispose();
    (await training.train(config(deferred, '--accumulate', '2'), { log: null, readEvery: 4, callbacks: [watch(1)] })).model.dispose();
    assert.equal(worstDifference(weightsOf(join(deferred, 'last.safetensors')), weightsOf(join(every, 'last.safetensors'))), 0);
    const [a, b] = [metricsOf(every), metricsOf(deferred)];
    for (const [i, m] of a.entries()) {
      assert.ok(Math.abs(m.trainLoss - b[i]!.trainLoss) < 1e-12 * m.trainLoss, `epoch ${i + 1}: ${m.trainLoss} vs ${b[i]!.trainLoss}`);
      assert.deepEqual({ ...b[i]!, trainLoss: 0 }, { ...m, trainLoss: 0 });
    }
    // 4 batches an epoch: read at the 4th (and the progress bar told then only).
    assert.deepEqual(steps[0], [1, 2, 3, 4, 1, 2, 3, 4]);
    assert.deepEqual(steps[1], [4, 4]);
    await assert.rejects(
      training.train(config(join(root, 'read-diverges'), '--lr', '1e30', '--precision', 'fp32'), { log: null, readEvery: 3 }),
      /the loss became (NaN|Infinity) at epoch 1, (in batches 1–3 \(read every 3 batches\)|batch \d): training stopped/,
    );
  });

  test('--device: auto resolves to a device of this machine, recorded in config.json; an unusable one is refused naming why', async () => {
    assert.throws(() => config(join(root, 'dev-bad'), '--device', 'gpu'), /--device must be auto, cpu, cuda or cuda:N, got "gpu"/);
    const out = join(root, 'dev-auto');
    (await training.train(config(out, '--epochs', '1'), { log: null })).model.dispose();
    const recorded = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { device: string };
    assert.equal(recorded.device, L.cuda.isAvailable() ? 'cuda:0' : 'cpu');
    if (L.cuda.isAvailable()) return;
    await assert.rejects(
      training.train(config(join(root, 'dev-cuda'), '--device', 'cuda'), { log: null }),
      /^BadInputError: --device cuda: the native addon is built against a CPU-only libtorch 1\.\d+\.\d+: rebuild it against a CUDA one/,
    );
    assert.throws(() => L.resolveDevice('cuda:1'), /--device cuda:1: the native addon is built against a CPU-only libtorch/);
    assert.deepEqual(L.resolveDevice('auto'), { device: 'cpu', reason: 'auto: no CUDA device' });
    assert.throws(() => L.cuda.synchronize(0), /cuda:0 is not a device here \(0 CUDA devices\)/);
  });

  test('resolveDevice is the one rule: with a GPU, auto is cuda:0 for one process and the CPU for a data-parallel run, where an explicit GPU is refused', () => {
    const count = L.cuda.deviceCount;
    L.cuda.deviceCount = () => 1; // as on a GPU machine: only the count is read
    try {
      assert.deepEqual(L.resolveDevice('auto'), { device: 'cuda:0', reason: 'auto: 1 CUDA device' });
      assert.deepEqual(L.resolveDevice('auto', { dataParallel: true }), {
        device: 'cpu',
        reason: 'auto: a data-parallel run reduces its gradients over Gloo on the CPU',
      });
      assert.throws(() => L.resolveDevice('cuda', { dataParallel: true }), /^BadInputError: --device cuda with --nproc\/--nnodes: .*Gloo on the CPU/);
      assert.deepEqual(L.resolveDevice('cpu', { dataParallel: true }), { device: 'cpu', reason: 'chosen' });
    } finally {
      L.cuda.deviceCount = count;
    }
  });

  test("checkpoints keep the generator of each device the run uses, through the device's generator API (the CPU's here, a GPU's beside it there)", () => {
    assert.deepEqual(training.generatorDevices('cpu'), ['cpu']);
    assert.deepEqual(training.generatorDevices('cuda:0'), ['cpu', 'cuda:0']);
    if (!L.cuda.isAvailable()) assert.throws(() => L.getRngState('cuda:0'), /names no CUDA device here \(0 CUDA devices; give cuda:N\)/);
    const model = new nn.Linear(3, 2);
    const optimizer = new L.optim.SGD(model.parameters(), { lr: 0.1 });
    const path = join(root, 'generators.safetensors');
    const progress = { epoch: 0, step: 0, sums: { loss: 0, correct: 0, count: 0, seconds: 0 }, bestAccuracy: -1 };
    L.manualSeed(11);
    const saved = L.getRngState('cpu');
    training.saveCheckpoint(path, { model, optimizer, scheduler: null, progress, config: {}, vocab: { classes: ['a', 'b'] }, generators: ['cpu'] });
    const file = io.loadSafetensors(path);
    assert.deepEqual(
      [...file.tensors.keys()].filter((k) => k.startsWith('rng')),
      ['rng.cpu'],
    );
    for (const t of file.tensors.values()) t.dispose();
    const draw = () => L.tidy(() => L.randn([4]).toFlatArray());
    const expected = draw(); // what the generator gives from the saved state
    const ckpt = training.loadCheckpoint(path);
    // Evaluation's restore (no generators) leaves the generator where it is.
    ckpt.restore({ model });
    assert.notDeepEqual(draw(), expected);
    ckpt.restore({ model, generators: ['cpu'] });
    assert.deepEqual(draw(), expected);
    ckpt.dispose();
    saved.dispose();
    model.dispose();
  });

  test('close() frees the optimizer state on its device (a compare runs several models in one process)', async () => {
    const t = await training.Trainer.create(config(join(root, 'close-frees'), '--epochs', '1'), { log: null });
    const result = await t.fit();
    assert.equal(result.status, 'finished');
    assert.equal(t.optimizer.stateDict().state.size, 0, 'momentum buffers are freed by close(), not left to the GC');
    assert.equal(result.plan.device, 'cpu');
    // The run folder records the plan it trained with.
    assert.deepEqual(JSON.parse(readFileSync(join(root, 'close-frees', 'plan.json'), 'utf8')), result.plan);
    result.model.dispose();
  });
});
