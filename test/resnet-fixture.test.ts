// lsr reproduces PyTorch on a torchvision-architecture ResNet: the weights load from torch.save and
// safetensors files, the logits match, and 3 SGD-momentum steps in train mode give PyTorch's
// losses, weights and BatchNorm running statistics. Fixtures: test/fixtures/make-fixtures.py.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { crossEntropy, io, models, noGrad, optim, tidy } from '../src/index.js';
import { assertTensorClose, fixtures } from './helpers.js';

const tiny = () => new models.ResNet(models.Bottleneck, [1, 2, 1, 1], { widths: [8, 16, 32, 64], numClasses: 10 });

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

  for (const file of ['resnet-tiny.pth', 'resnet-tiny.safetensors']) {
    test(`${file}: eval logits, then 3 SGD-momentum steps in train mode (losses, weights, running stats)`, () => {
      const model = tiny();
      model.loadStateDict(io.loadWeights(join(fixtures, file)));
      model.eval();
      tidy(() => assertTensorClose(noGrad(() => model.forward(x)), run.get('logits_eval')!, 1e-4, 'eval logits'));

      model.train();
      const sgd = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
      const losses = run.get('losses')!.toFlatArray();
      for (let step = 0; step < 3; step++) {
        sgd.zeroGrad();
        tidy(() => {
          const logits = model.forward(x);
          if (step === 0) assertTensorClose(logits, run.get('logits_train')!, 1e-4, 'train logits');
          const loss = crossEntropy(logits, y, { labelSmoothing: 0.1 });
          assert.ok(Math.abs(loss.item() - losses[step]!) <= 1e-4, `loss ${step}: ${loss.item()} vs ${losses[step]}`);
          loss.backward();
        });
        sgd.step();
      }
      const after = model.stateDict();
      assert.equal(after.size, [...run.keys()].filter((k) => k.startsWith('after.')).length);
      for (const [k, t] of after) assertTensorClose(t.to('float64'), run.get(`after.${k}`)!.to('float64'), 1e-4, k);
      assert.equal(after.get('bn1.num_batches_tracked')!.item(), 3);
      sgd.dispose();
      model.dispose();
    });
  }
});
