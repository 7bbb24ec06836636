// The registries behind --model, --optimizer, --scheduler and --data: what they hold, their errors,
// and a model, an optimizer and a data set added from outside, trained through the ordinary run.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { data, models, nn, optim, training } from '../src/index.js';
import { parseTrainArgs } from '../src/cli/specs.js';

describe('registries', () => {
  test('hold the built-in models, optimizers and schedules; an unknown name lists the known ones', () => {
    assert.deepEqual(training.MODELS.names, [
      'resnet18',
      'resnet34',
      'resnet50',
      'resnet101',
      'resnet152',
      'resnext50_32x4d',
      'wide_resnet50_2',
      'wide_resnet101_2',
      'resnet20',
      'resnet32',
      'resnet56',
    ]);
    assert.deepEqual(training.OPTIMIZERS.names, ['sgd', 'adamw', 'rmsprop']);
    assert.deepEqual(training.SCHEDULERS.names, ['cosine', 'step', 'onecycle', 'none']);
    assert.throws(
      () => training.MODELS.get('resnet19'),
      (e: unknown) => e instanceof L.BadInputError && /--model must be one of resnet18, .*resnet56, got "resnet19"/.test(e.message),
    );
    assert.throws(() => parseTrainArgs('train', ['--optimizer', 'lion']), /--optimizer must be one of sgd, adamw, rmsprop, got "lion"/);
    assert.throws(() => training.MODELS.register('resnet18', { build: () => models.resnet18() }), /already registered/);
    assert.ok(training.MODELS.get('resnet20').smallImages);
    assert.throws(() => training.MODELS.get('resnet50').build({ numClasses: 10, inChannels: 1 }), /takes 3-channel images, not 1/);
  });

  test('a model and an optimizer registered from outside train through the ordinary run (--optimizer rmsprop too)', async () => {
    class TinyNet extends nn.Module implements models.Classifier {
      readonly body = this.registerModule(
        'body',
        new nn.Sequential(new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.ReLU(), new nn.AdaptiveAvgPool2d(1), new nn.Flatten()),
      );
      fc = this.registerModule('fc', new nn.Linear(4, 10));
      features(x: L.Tensor): L.Tensor {
        return this.body.forward(x);
      }
      forward(x: L.Tensor): L.Tensor {
        return this.fc.forward(this.features(x));
      }
      resetClassifier(numClasses: number): nn.Linear {
        return this.replaceModule('fc', new nn.Linear(4, numClasses));
      }
    }
    training.MODELS.register('tinynet', { build: () => new TinyNet(), smallImages: true });
    let built = 0;
    training.OPTIMIZERS.register('sgd-counted', (params, h) => {
      built++;
      return new optim.SGD(params, { lr: h.lr });
    });
    const dir = mkdtempSync(join(tmpdir(), 'lsr-registry-'));
    try {
      for (const [model, optimizer] of [
        ['tinynet', 'sgd-counted'],
        ['resnet20', 'rmsprop'],
      ]) {
        const { config } = parseTrainArgs('train', [
          '--model',
          model!,
          '--optimizer',
          optimizer!,
          '--limit-per-class',
          '4',
          '--epochs',
          '1',
          '--batch-size',
          '8',
          '--lr',
          '0.001',
          '--workers',
          '0',
          '--precision',
          'fp32',
          '--out',
          join(dir, model!),
        ]);
        const r = await training.train(config, { log: null });
        assert.equal(r.status, 'finished');
        assert.equal(r.epochs.length, 1);
        assert.ok(Number.isFinite(r.epochs[0]!.trainLoss), `${model}/${optimizer}: train loss ${r.epochs[0]!.trainLoss}`);
        if (model === 'tinynet') assert.ok(r.model instanceof TinyNet);
        r.model.dispose();
      }
      assert.equal(built, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a data set registered from outside is named by --data: its images, its side and recipe defaults, its statistics and its test set', async () => {
    // 6-px stripes: horizontal for class 0, vertical for class 1; 12 training and 4 test images.
    const stripes = (count: number, offset: number) =>
      new data.SampleList(
        Array.from({ length: count }, (_, n) => {
          const label = (n + offset) % 2;
          const pixels = new Uint8Array(6 * 6);
          for (let i = 0; i < pixels.length; i++) pixels[i] = (label === 0 ? Math.floor(i / 6) : i % 6) % 2 ? 220 : 30;
          return { source: { kind: 'raw' as const, pixels, width: 6, height: 6, channels: 1 }, label, where: `stripes ${n}`, name: `${n}` };
        }),
        new data.ClassVocabulary(['horizontal', 'vertical']),
      );
    training.DATASETS.register('test-stripes', {
      description: 'stripes (12 images of 6 px)',
      train: () => stripes(12, 0),
      test: () => stripes(4, 1),
      side: 6,
      statistics: { mean: [0.49], std: [0.37], grey: true, images: 12 },
      recipe: { augment: { smallModel: 'flip', otherModels: 'none' }, normalize: 'dataset', cropPadding: 1 },
    });
    assert.ok(training.DATASETS.names.includes('fashion-mnist'));
    const c = { ...training.DEFAULTS, data: 'test-stripes', model: 'resnet20' as const };
    // A CIFAR-style model takes the images as they are, with the registered recipe and statistics (no pass over the data).
    assert.equal(training.imageSizeWithoutImages(c), 6);
    assert.equal(training.needsStatistics(c), false);
    const recipe = training.recipeFor(c);
    assert.deepEqual(recipe.train, { transforms: [{ op: 'hflip' }], channels: 1, mean: [0.49], std: [0.37] });
    assert.deepEqual(training.loadDataset('test-stripes').dataset.length, 12);
    assert.equal(training.registeredTestSet('test-stripes-test', 'test-stripes')?.length, 4);
    assert.equal(training.registeredTestSet('leaves-test', 'test-stripes'), null);
    assert.throws(
      () => training.registeredTestSet('test-stripes-test', 'fashion-mnist'),
      /--data test-stripes-test: the run was trained on fashion-mnist, not test-stripes/,
    );
    // And a run trains on it by name, validation included.
    const dir = mkdtempSync(join(tmpdir(), 'lsr-registry-data-'));
    try {
      const { config } = parseTrainArgs('train', [
        '--data',
        'test-stripes',
        '--model',
        'resnet20',
        '--epochs',
        '1',
        '--batch-size',
        '4',
        '--val-fraction',
        '0.34',
        '--workers',
        '0',
        '--precision',
        'fp32',
        '--out',
        dir,
      ]);
      const r = await training.train(config, { log: null });
      assert.equal(r.status, 'finished');
      assert.equal(r.data.imageSize, 6);
      assert.equal(r.data.train.length + r.data.val.length, 12);
      r.model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
