// The registries behind --model, --optimizer and --scheduler: what they hold, their errors, and a
// model and an optimizer added from outside, trained through the ordinary run.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { models, nn, optim, training } from '../src/index.js';
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
});
