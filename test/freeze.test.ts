// --freeze-epochs (fastai's fine_tune): the first N epochs train the classifier head alone on a
// pretrained body — its parameters bit for bit as loaded, its BatchNorm statistics too, no backward
// through it —, then every layer trains; a resume on either side of the boundary ends as an
// uninterrupted run; the options that make no sense are refused by name.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { io, training } from '../src/index.js';
import { parseTrainArgs } from '../src/cli/specs.js';
import { writeTinyLeaves } from './helpers.js';

let root = '';
let leaves = '';
let weights = '';

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'lsr-freeze-'));
  leaves = join(root, 'leaves');
  await writeTinyLeaves(leaves, ['acer', 'betula', 'quercus'], 30);
  // "Pretrained" weights: a ResNet-20 of 10 classes whose BatchNorm statistics are not the defaults; the run's 3 classes get a new head.
  const pretrained = training.MODELS.get('resnet20').build({ numClasses: 10, inChannels: 3 });
  for (const [k, t] of pretrained.stateDict()) if (k.endsWith('running_var')) t.fill_(2);
  weights = join(root, 'pretrained.safetensors');
  io.saveSafetensors(weights, pretrained.stateDict());
  pretrained.dispose();
});
after(() => rmSync(root, { recursive: true, force: true }));

const config = (out: string, ...more: string[]) =>
  parseTrainArgs('train', [
    ...['--data', leaves, '--model', 'resnet20', '--weights', weights, '--image-size', '8', '--batch-size', '6', '--epochs', '3', '--lr', '0.05'],
    ...['--precision', 'fp64', '--workers', '0', '--threads', '1', '--val-fraction', '0.25', '--augment', 'flip', '--out', out, ...more],
  ]).config;

/** The model's parameters and buffers as numbers, by key. */
const snapshot = (t: training.Trainer) => new Map([...t.model.stateDict()].map(([k, v]) => [k, v.toFlatArray()]));
const isHead = (k: string) => k.startsWith('fc.');
const moved = (a: Map<string, number[]>, b: Map<string, number[]>, keys: string[]) => keys.filter((k) => a.get(k)!.some((x, i) => x !== b.get(k)![i]));

describe('--freeze-epochs', () => {
  test('the body stays as loaded, bit for bit (BatchNorm statistics included), while the head learns; from epoch N on every layer moves', async () => {
    const states: Array<Map<string, number[]>> = [];
    const keep = (t: training.Trainer) => states.push(snapshot(t));
    const logged: string[] = [];
    const r = await training.train(config(join(root, 'frozen'), '--freeze-epochs', '2'), {
      log: (l) => logged.push(l),
      callbacks: [{ onEpochStart: (t, e) => e === 0 && keep(t), onEpochEnd: (t) => keep(t) }],
    });
    r.model.dispose();
    const [start, e1, e2, e3] = states as [Map<string, number[]>, Map<string, number[]>, Map<string, number[]>, Map<string, number[]>];
    const body = [...start.keys()].filter((k) => !isHead(k));
    const head = [...start.keys()].filter(isHead);
    assert.ok(body.some((k) => k.endsWith('running_mean')) && body.some((k) => k.endsWith('num_batches_tracked')));
    assert.deepEqual(moved(start, e1, body), [], 'the body after frozen epoch 1');
    assert.deepEqual(moved(start, e2, body), [], 'the body after frozen epoch 2');
    assert.deepEqual(moved(start, e1, head), head, 'the head learns while the body is frozen');
    // Epoch 3 trains everything: weights and BatchNorm statistics.
    const after3 = moved(e2, e3, body);
    for (const k of ['conv1.weight', 'layer3.2.conv2.weight', 'bn1.running_mean', 'layer1.0.bn1.running_var', 'bn1.num_batches_tracked'])
      assert.ok(after3.includes(k), `${k} moves once the body is unfrozen`);
    // Each phase's speed, at its end.
    assert.ok(
      logged.some((l) => /^frozen \(epochs 1–2, the head alone\): [\d.]+ ms\/step, \d+ img\/s over 6 steps$/.test(l)),
      logged.join('\n'),
    );
    assert.ok(
      logged.some((l) => /^whole model \(epochs 3–3\): [\d.]+ ms\/step/.test(l)),
      logged.join('\n'),
    );
  });

  test('a frozen step backpropagates through the head alone: the body gets no gradient', async () => {
    const t = await training.Trainer.create(config(join(root, 'by-hand'), '--freeze-epochs', '1'), { log: null });
    try {
      for (const [epoch, frozen] of [
        [0, true],
        [1, false],
      ] as const) {
        t.enterEpoch(epoch);
        assert.equal(t.frozen, frozen);
        assert.equal(t.model.getSubmodule('layer1.0.bn1').training, !frozen, 'the body is in eval mode while frozen');
        assert.equal(t.model.fc.training, true);
        const batches = t.trainLoader.epoch(epoch);
        const { value: batch } = await batches.next();
        t.step(batch!, { epoch, step: 1 });
        batch!.dispose();
        await batches.return(undefined);
        const body = t.model.parameters().filter((p) => !t.model.fc.parameters().includes(p));
        assert.equal(
          body.every((p) => p.grad === undefined),
          frozen,
          frozen ? 'no gradient reaches a frozen body' : 'the unfrozen body gets gradients',
        );
        assert.ok(t.model.fc.weight.grad !== undefined);
      }
    } finally {
      await t.close();
      t.model.dispose();
    }
  });

  test('resumed inside the frozen phase or at its boundary, a run ends with the weights of an uninterrupted one', async () => {
    const lastOf = (out: string) => {
      const f = io.loadSafetensors(join(out, 'last.safetensors'));
      const m = new Map([...f.tensors].filter(([k]) => k.startsWith('model.')).map(([k, v]) => [k, v.toFlatArray()]));
      for (const v of f.tensors.values()) v.dispose();
      return m;
    };
    const straight = join(root, 'straight');
    (await training.train(config(straight, '--freeze-epochs', '1'), { log: null })).model.dispose();
    // Stopped at the boundary (after the frozen epoch), and in the frozen epoch's second batch.
    const boundary = join(root, 'boundary');
    (await training.train(config(boundary, '--freeze-epochs', '1'), { log: null, stopAfterEpochs: 1 })).model.dispose();
    (await training.train(config(boundary, '--freeze-epochs', '1'), { log: null, resume: true })).model.dispose();
    const inside = join(root, 'inside');
    const stop = new AbortController();
    const first = await training.train(config(inside, '--freeze-epochs', '1'), {
      log: null,
      signal: stop.signal,
      callbacks: [{ onStep: (_, s) => s.step === 2 && stop.abort() }],
    });
    first.model.dispose();
    assert.equal(first.status, 'interrupted');
    (await training.train(config(inside, '--freeze-epochs', '1'), { log: null, resume: true })).model.dispose();
    const want = lastOf(straight);
    for (const out of [boundary, inside]) {
      const got = lastOf(out);
      assert.deepEqual([...got.keys()], [...want.keys()]);
      assert.deepEqual(moved(want, got, [...want.keys()]), [], out);
    }
  });

  test('refused without --weights, and at or beyond --epochs, naming the options', () => {
    const out = join(root, 'refused');
    assert.throws(
      () => parseTrainArgs('train', ['--data', leaves, '--freeze-epochs', '1', '--out', out]),
      /--freeze-epochs keeps pretrained --weights while the head learns: it needs --weights, got 1/,
    );
    assert.throws(() => config(out, '--freeze-epochs', '3'), /--freeze-epochs must be below --epochs 3: the epochs after it train every layer, got 3/);
    assert.throws(() => config(out, '--freeze-epochs', '-1'), /--freeze-epochs/);
    assert.doesNotThrow(() => config(out, '--freeze-epochs', '2'));
  });
});
