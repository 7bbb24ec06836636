// nn.Module and the ResNets: torchvision's keys and shapes, loading rules, modes, casting.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { models, nn, optim, training } from '../src/index.js';
import { assertClose, fixtures } from './helpers.js';

const torchvisionKeys = JSON.parse(readFileSync(join(fixtures, 'resnet-keys.json'), 'utf8')) as Record<string, Array<[string, number[]]>>;

describe("ResNets have torchvision's state-dict keys and shapes", () => {
  // Every torchvision model in the fixture, built through the registry --model names.
  const builders = Object.fromEntries(
    Object.keys(torchvisionKeys).map((name) => [name, () => training.MODELS.get(name).build({ numClasses: 1000, inChannels: 3 })]),
  );
  for (const [name, build] of Object.entries(builders)) {
    test(name, () => {
      const m = build();
      const ours = [...m.stateDict()].map(([k, t]) => [k, t.shape]);
      assert.deepEqual(ours, torchvisionKeys[name]);
      m.dispose();
    });
  }
});

describe('a ResNet as a user fine-tunes it', () => {
  test('features() is the pooled penultimate vector; resetClassifier() gives a new head', () => {
    L.tidy(() => {
      const m = models.resnet18({ numClasses: 10 });
      const x = L.randn([2, 3, 64, 64]);
      m.eval();
      const f = L.noGrad(() => m.features(x));
      assert.deepEqual(f.shape, [2, 512]);
      const logits = L.noGrad(() => m.forward(x));
      assert.ok(logits.allclose(L.noGrad(() => m.fc.forward(f))));
      m.resetClassifier(176);
      assert.deepEqual(m.stateDict().get('fc.weight')!.shape, [176, 512]);
      assert.deepEqual(L.noGrad(() => m.forward(x)).shape, [2, 176]);
      m.dispose();
    });
  });

  test('CIFAR ResNets (He et al. 2016): 3×3 stem, 16-32-64 channels, no max-pool', () => {
    L.tidy(() => {
      const m = models.resnet20({ numClasses: 10 });
      assert.deepEqual(m.conv1.weight.shape, [16, 3, 3, 3]);
      assert.equal([...m.namedModules()].filter(([, b]) => b instanceof models.BasicBlock).length, 9);
      assert.deepEqual(L.noGrad(() => m.features(L.randn([2, 3, 32, 32]))).shape, [2, 64]);
      assert.throws(() => new models.CifarResNet(21), /depth must be 6n \+ 2/);
      m.dispose();
    });
  });

  test('loadStateDict reports every missing, unexpected and mismatched key in one error', () => {
    L.tidy(() => {
      const m = models.resnet18({ numClasses: 10 });
      const sd = new Map(m.stateDict());
      sd.delete('layer1.0.bn1.running_mean');
      sd.set('extra.weight', L.zeros([1]));
      sd.set('fc.weight', L.zeros([1000, 512]));
      const err = (() => {
        try {
          m.loadStateDict(sd);
        } catch (e) {
          return (e as Error).message;
        }
        return '';
      })();
      assert.match(err, /Error\(s\) in loading state dict for ResNet/);
      assert.match(err, /Missing key\(s\): layer1\.0\.bn1\.running_mean/);
      assert.match(err, /Unexpected key\(s\): extra\.weight/);
      assert.match(err, /size mismatch for fc\.weight: copying a tensor of shape \[1000,512\], the shape in the model is \[10,512\]/);
      // not strict: missing and unexpected are reported, shape mismatches still refused
      sd.set('fc.weight', L.zeros([10, 512]));
      const r = m.loadStateDict(sd, { strict: false });
      assert.deepEqual(r, { missingKeys: ['layer1.0.bn1.running_mean'], unexpectedKeys: ['extra.weight'] });
      assert.equal(m.fc.weight.abs().sum().item(), 0);
      m.dispose();
    });
  });

  test('to(dtype) and to(channels_last) keep parameter identity, so an optimizer made before still works', () => {
    L.tidy(() => {
      const m = models.resnet18({ numClasses: 3 });
      const sgd = new optim.SGD(m.parameters(), { lr: 0.1 });
      m.to('float64').to('channels_last');
      assert.equal(m.conv1.weight.dtype, 'float64');
      assert.equal(m.bn1.numBatchesTracked!.dtype, 'int64');
      assert.ok(m.conv1.weight.isContiguous('channels_last'));
      m.forward(L.randn([2, 3, 32, 32], { dtype: 'float64' }))
        .sum()
        .backward();
      const before = m.fc.bias!.clone();
      sgd.step();
      assert.ok(!m.fc.bias!.equal(before));
      m.dispose();
    });
  });

  test('train/eval reach every module; freeze stops gradients', () => {
    L.tidy(() => {
      const m = models.resnet18({ numClasses: 3 });
      m.eval();
      assert.ok([...m.modules()].every((x) => !x.training));
      m.train();
      assert.ok([...m.modules()].every((x) => x.training));
      m.freeze();
      m.fc.requiresGrad_(true);
      m.forward(L.randn([2, 3, 32, 32]))
        .sum()
        .backward();
      assert.equal(m.conv1.weight.grad, undefined);
      assert.ok(m.fc.weight.grad !== undefined);
      assert.equal(m.numParameters(), 11689512 - 513 * 1000 + 513 * 3); // torchvision: 11,689,512 with 1000 classes
      m.dispose();
    });
  });
});

describe('layers', () => {
  test('BatchNorm2d: momentum updates, momentum null is a cumulative average, eval uses running stats', () => {
    L.tidy(() => {
      const bn = new nn.BatchNorm2d(1, { momentum: null });
      const a = L.tensor([1, 3], { dtype: 'float32' }).view(2, 1, 1, 1);
      const b = L.tensor([5, 7], { dtype: 'float32' }).view(2, 1, 1, 1);
      bn.forward(a);
      bn.forward(b);
      assertClose(bn.runningMean!.item(), (2 + 6) / 2, 1e-6);
      assert.equal(bn.numBatchesTracked!.item(), 2);
      const bn2 = new nn.BatchNorm2d(1);
      bn2.forward(a);
      assertClose(bn2.runningMean!.item(), 0.1 * 2, 1e-6);
      assertClose(bn2.runningVar!.item(), 0.9 + 0.1 * 2, 1e-6); // unbiased batch variance 2
      bn2.eval();
      assertClose(
        bn2.forward(a).toFlatArray(),
        [1, 3].map((v) => (v - 0.2) / Math.sqrt(1.1 + 1e-5)),
        1e-5,
      );
      assert.throws(() => bn2.forward(L.zeros([2, 1])), /BatchNorm2d: expected 4D input \(got 2D input/);
    });
  });

  test('Sequential and ModuleList name their children 0, 1, ...; Dropout is identity in eval', () => {
    L.tidy(() => {
      const s = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU(), new nn.Dropout(0.5), new nn.Linear(3, 2));
      assert.deepEqual([...s.stateDict().keys()], ['0.weight', '0.bias', '3.weight', '3.bias']);
      s.eval();
      const x = L.randn([5, 4]);
      assert.ok(s.forward(x).allclose(s.items[3]!.forward(s.items[0]!.forward(x).relu())));
      const list = new nn.ModuleList([new nn.Identity(), new nn.Flatten()]);
      assert.equal(list.length, 2);
      assert.throws(() => list.forward(x), /ModuleList has no forward/);
    });
  });
});

describe('norm layers: torchvision norm_layer and convert_sync_batchnorm', () => {
  test('a ResNet built with another norm layer has the same keys and initial weights', () => {
    L.manualSeed(3);
    const plain = models.resnet18({ numClasses: 4 });
    L.manualSeed(3);
    const synced = models.resnet18({ numClasses: 4, normLayer: (c) => new nn.SyncBatchNorm(c) });
    try {
      assert.ok(synced.bn1 instanceof nn.SyncBatchNorm);
      const bns = [...synced.modules()].filter((m) => m instanceof nn.BatchNorm2d);
      assert.equal(bns.length, 20);
      assert.ok(bns.every((m) => m instanceof nn.SyncBatchNorm));
      const [a, b] = [plain.stateDict(), synced.stateDict()];
      assert.deepEqual([...b.keys()], [...a.keys()]);
      for (const [k, t] of a) assert.deepEqual(b.get(k)!.toFlatArray(), t.toFlatArray(), k);
    } finally {
      plain.dispose();
      synced.dispose();
    }
  });

  test('convertSyncBatchNorm swaps every BatchNorm2d in place, keeping its tensors and mode', () => {
    const m = models.resnet20({ numClasses: 3 });
    try {
      m.eval();
      const before = m.stateDict();
      const bn1 = m.bn1;
      assert.equal(nn.convertSyncBatchNorm(m), 21);
      assert.ok(m.bn1 instanceof nn.SyncBatchNorm && m.bn1 !== bn1);
      assert.ok([...m.modules()].filter((x) => x instanceof nn.BatchNorm2d).every((x) => x instanceof nn.SyncBatchNorm && !x.training));
      const after = m.stateDict();
      assert.deepEqual([...after.keys()], [...before.keys()]);
      for (const [k, t] of before) assert.equal(after.get(k), t, `${k} is the same tensor`);
      assert.equal(nn.convertSyncBatchNorm(m), 0); // already converted
      // Evaluation reads the running statistics: no process group needed.
      L.tidy(() => assert.deepEqual(m.forward(L.zeros([1, 3, 8, 8])).shape, [1, 3]));
    } finally {
      m.dispose();
    }
  });
});

describe('BatchNorm2d refuses what PyTorch refuses', () => {
  test('one value per channel in training is an error, and the running statistics stay finite', () => {
    const bn = new nn.BatchNorm2d(3);
    try {
      assert.throws(
        () => bn.forward(L.ones([1, 3, 1, 1])),
        /BatchNorm2d: expected more than 1 value per channel when training, got input of shape \[1,3,1,1\]/,
      );
      assert.deepEqual(bn.runningVar!.toFlatArray(), [1, 1, 1]);
      assert.equal(bn.numBatchesTracked!.item(), 0);
      bn.eval();
      L.tidy(() => assert.deepEqual(bn.forward(L.ones([1, 3, 1, 1])).shape, [1, 3, 1, 1])); // evaluation reads the running statistics
    } finally {
      bn.dispose();
    }
  });
});

describe('loadStateDict with a value that is not a tensor (issue 26, item 13)', () => {
  test('loadStateDict names a key whose value is not a tensor', () => {
    const linear = new L.nn.Linear(3, 1, { bias: false });
    assert.throws(() => linear.loadStateDict({ weight: [[1, 2, 3]] } as unknown as Record<string, L.Tensor>), {
      code: 'LSR_BAD_INPUT',
      message: "loadStateDict for Linear: 'weight' must be a Tensor (the model's is float32 [1, 3]; tensor(...) makes one from an array), got an array",
    });
    linear.loadStateDict({ weight: L.tensor([[1, 2, 3]]) });
    assert.deepEqual(linear.weight.toArray(), [[1, 2, 3]]);
  });
});
