// lsr reproduces PyTorch on a torchvision-architecture ResNet: the weights load from torch.save and
// safetensors files, 3 SGD-momentum steps in train mode in float64 give PyTorch's losses, weights
// and BatchNorm running statistics, and the float32 forward pass and first step match within
// float32's noise. Fixtures: test/fixtures/make-fixtures.py (PyTorch, in float64).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { type Tensor, crossEntropy, io, models, noGrad, optim, tidy } from '../src/index.js';
import { assertTensorClose, fixtures } from './helpers.js';

const tiny = () => new models.ResNet(models.Bottleneck, [1, 2, 1, 1], { widths: [8, 16, 32, 64], numClasses: 10 });

/** The largest absolute difference, |actual − expected|, after both are made float64. */
const maxAbsDiff = (actual: Tensor, expected: Tensor): number =>
  tidy(() => {
    assert.deepEqual(actual.shape, expected.shape);
    return actual.to('float64').sub(expected.to('float64')).abs().max().item();
  });

// Float32 against PyTorch's float64, measured on AMD EPYC Zen 4 for PyTorch 1.13 (1 and 2 threads,
// contiguous and channels_last) and lsr (1 and 2 threads), and on Intel Sapphire Rapids for
// PyTorch (the float32 fixture it recorded before): logits at most 5.5e-6 off (magnitude 4.8), the loss 3.9e-7, the
// head's gradients 7.4e-7. The tolerances are ~10× those. The other gradients are not compared in
// float32: a ReLU or max-pool whose inputs nearly tie takes the other branch under another
// summation order, and moves single elements of the early layers' gradients by up to 1.6e-2; the
// float64 steps check them.
const F32_LOGITS = 5e-5;
const F32_LOSS = 5e-6;
const F32_HEAD_GRAD = 5e-6;
// Float64 rounding over 3 steps: measured below 1e-13 (logits, gradients, losses, weights, running statistics).
const F64 = 1e-10;

describe('a torchvision-architecture ResNet against PyTorch', () => {
  const run = io.loadSafetensors(join(fixtures, 'resnet-tiny-run.safetensors')).tensors;
  const x = run.get('input')!;
  const y = run.get('target')!;

  test('manualSeed(0) builds the very weights torch.manual_seed(0) does, with the same keys in the same order', () => {
    L.manualSeed(0);
    const model = tiny();
    const torchInit = io.loadWeights(join(fixtures, 'resnet-tiny.safetensors'));
    assert.deepEqual([...model.stateDict().keys()], [...torchInit.keys()]);
    for (const [k, t] of model.stateDict()) assertTensorClose(t, torchInit.get(k)!, 0, k);
    model.dispose();
  });

  test('float32: eval logits, train logits, the loss and the head gradients of the first step', () => {
    const model = tiny();
    model.loadStateDict(io.loadWeights(join(fixtures, 'resnet-tiny.safetensors')));
    model.eval();
    const diffs: Record<string, number> = {};
    diffs.logitsEval = tidy(() =>
      maxAbsDiff(
        noGrad(() => model.forward(x)),
        run.get('logits_eval')!,
      ),
    );
    model.train();
    tidy(() => {
      const logits = model.forward(x);
      diffs.logitsTrain = maxAbsDiff(logits, run.get('logits_train')!);
      const loss = crossEntropy(logits, y, { labelSmoothing: 0.1 });
      diffs.loss = Math.abs(loss.item() - run.get('losses')!.toFlatArray()[0]!);
      loss.backward();
    });
    const head = [...model.namedParameters()].filter(([k]) => k.startsWith('fc.'));
    assert.equal(head.length, 2);
    diffs.headGrad = Math.max(...head.map(([k, p]) => maxAbsDiff(p.grad!, run.get(`grad.${k}`)!)));
    if (process.env.LSR_PRINT_NOISE) console.log(JSON.stringify(diffs));
    assert.ok(diffs.logitsEval! <= F32_LOGITS, `eval logits ${diffs.logitsEval} off (tolerance ${F32_LOGITS})`);
    assert.ok(diffs.logitsTrain! <= F32_LOGITS, `train logits ${diffs.logitsTrain} off (tolerance ${F32_LOGITS})`);
    assert.ok(diffs.loss! <= F32_LOSS, `loss ${diffs.loss} off (tolerance ${F32_LOSS})`);
    assert.ok(diffs.headGrad! <= F32_HEAD_GRAD, `head gradients ${diffs.headGrad} off (tolerance ${F32_HEAD_GRAD})`);
    model.dispose();
  });

  for (const file of ['resnet-tiny.pth', 'resnet-tiny.safetensors']) {
    test(`${file}: float64, eval logits, then 3 SGD-momentum steps in train mode (gradients, losses, weights, running stats)`, () => {
      const model = tiny();
      model.loadStateDict(io.loadWeights(join(fixtures, file)));
      model.to('float64');
      const x64 = x.to('float64');
      model.eval();
      tidy(() =>
        assertTensorClose(
          noGrad(() => model.forward(x64)),
          run.get('logits_eval')!,
          F64,
          'eval logits',
        ),
      );

      model.train();
      const sgd = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
      const losses = run.get('losses')!.toFlatArray();
      for (let step = 0; step < 3; step++) {
        sgd.zeroGrad();
        tidy(() => {
          const logits = model.forward(x64);
          if (step === 0) assertTensorClose(logits, run.get('logits_train')!, F64, 'train logits');
          const loss = crossEntropy(logits, y, { labelSmoothing: 0.1 });
          assert.ok(Math.abs(loss.item() - losses[step]!) <= F64, `loss ${step}: ${loss.item()} vs ${losses[step]}`);
          loss.backward();
        });
        if (step === 0) for (const [k, p] of model.namedParameters()) assertTensorClose(p.grad!, run.get(`grad.${k}`)!, F64, `grad ${k}`);
        sgd.step();
      }
      const after = model.stateDict();
      assert.equal(after.size, [...run.keys()].filter((k) => k.startsWith('after.')).length);
      for (const [k, t] of after) assertTensorClose(t, run.get(`after.${k}`)!, F64, k);
      assert.equal(after.get('bn1.num_batches_tracked')!.item(), 3);
      x64.dispose();
      sgd.dispose();
      model.dispose();
    });
  }
});
