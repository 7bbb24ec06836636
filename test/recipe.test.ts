// Recipes that fit the data: the demo's and Fashion-MNIST's unchanged, small images get padding-crop,
// flip and their own statistics, large images torchvision's recipe, pretrained weights ImageNet's
// normalisation, grey images one channel; the statistics are those of the pixels.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { data, training } from '../src/index.js';
import { DEMO } from '../src/cli/specs.js';
import { distRoot } from './helpers.js';

let root = '';
let greys = '';
let colours = '';
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'lsr-recipe-'));
  // Two classes of flat grey images: 51 (0.2) and 153 (0.6); pixel mean 0.4, std 0.2.
  greys = join(root, 'greys');
  colours = join(root, 'colours');
  for (const [dir, channels] of [
    [greys, 1],
    [colours, 3],
  ] as const)
    for (const [label, value] of [
      ['dark', 51],
      ['light', 153],
    ] as const) {
      mkdirSync(join(dir, label), { recursive: true });
      for (let i = 0; i < 6; i++) {
        const px = Buffer.alloc(16 * 16 * channels, value);
        if (channels === 3) for (let k = 0; k < px.length; k += 3) px[k] = value === 51 ? 255 : 0; // red differs: not grey
        await sharp(px, { raw: { width: 16, height: 16, channels } })
          .png()
          .toFile(join(dir, label, `${i}.png`));
      }
    }
});
after(() => rmSync(root, { recursive: true, force: true }));

const cfg = (o: Partial<training.TrainConfig>): training.TrainConfig => ({ ...training.DEFAULTS, ...o });

describe('recipes', () => {
  test("the demo's recipe is the one its table was made with", () => {
    const r = training.recipeFor(DEMO);
    assert.deepEqual(r.train, { transforms: [{ op: 'randomCrop', size: 28, padding: 2 }, { op: 'hflip' }], channels: 1, mean: [0.286], std: [0.353] });
    assert.deepEqual(r.eval, { transforms: [], channels: 1, mean: [0.286], std: [0.353] });
  });

  test('Fashion-MNIST for an ImageNet model: resized and flipped, its own statistics in 3 channels, as before', () => {
    const r = training.recipeFor(cfg({ model: 'resnet18', imageSize: 64 }));
    assert.deepEqual(r.train.transforms, [{ op: 'resize', size: [64, 64] }, { op: 'hflip' }]);
    assert.deepEqual(r.eval.transforms, [{ op: 'resize', size: [64, 64] }]);
    assert.deepEqual([r.train.channels, r.train.mean, r.train.std], [3, [0.286, 0.286, 0.286], [0.353, 0.353, 0.353]]);
  });

  test("large images get torchvision's ImageNet recipe; pretrained weights ImageNet's normalisation", () => {
    const r = training.recipeFor(cfg({ data: colours, model: 'resnet50', imageSize: 224 }));
    assert.deepEqual(r.train, { ...data.trainPipeline(224), transforms: [{ op: 'randomResizedCrop', size: 224, scale: [0.08, 1] }, { op: 'hflip' }] });
    assert.deepEqual(r.eval, data.evalPipeline(224));
    const s = training.recipeFor(cfg({ data: colours, model: 'resnet18', imageSize: 32, weights: 'w.pth' }));
    assert.deepEqual([s.train.mean, s.train.std], [data.IMAGENET_MEAN, data.IMAGENET_STD]);
    assert.equal(s.train.transforms[1]!.op, 'randomCrop');
  });

  test('small images: resize, padding crop (an eighth of the side) and flip; evaluation keeps the whole image', async () => {
    const c = cfg({ data: colours, model: 'resnet20', imageSize: 32, valFraction: 0.25, workers: 0 });
    assert.equal(training.needsStatistics(c), true);
    assert.throws(() => training.prepareData(c), /use prepareRun\(config\) or Trainer\.create\(config\)/);
    const run = await training.prepareRun(c);
    assert.deepEqual(run.recipe.train.transforms, [{ op: 'resize', size: [32, 32] }, { op: 'randomCrop', size: 32, padding: 4 }, { op: 'hflip' }]);
    assert.deepEqual(run.recipe.eval.transforms, [{ op: 'resize', size: [32, 32] }]);
    assert.equal(run.recipe.train.channels, 3);
    assert.match(
      run.recipe.description,
      /^crop-flip \(auto\): resize to 32×32, random 32×32 crop after 4 px zero padding, random horizontal flip; the training set's own mean/,
    );
  });

  test("the training set's statistics are its pixels' mean and std; grey images train with one channel", async () => {
    const run = await training.prepareRun(cfg({ data: greys, model: 'resnet20', imageSize: 16, valFraction: 0.34, workers: 1 }));
    const st = run.statistics!;
    assert.equal(st.images, 8);
    assert.equal(st.grey, true);
    for (const k of [0, 1, 2]) {
      assert.ok(Math.abs(st.mean[k]! - 0.4) < 1e-6, `mean ${st.mean}`);
      assert.ok(Math.abs(st.std[k]! - 0.2) < 1e-6, `std ${st.std}`);
    }
    assert.equal(run.recipe.train.channels, 1);
    assert.ok(Math.abs(run.recipe.train.mean[0]! - 0.4) < 1e-6);
    // A model that needs three channels keeps them.
    assert.equal((await training.prepareRun(cfg({ data: greys, model: 'resnet18', imageSize: 16, valFraction: 0.34, workers: 0 }))).recipe.train.channels, 3);
  });

  test('--image-size 0 (auto): a CIFAR-style model sees small images at their own side, other models 224', async () => {
    assert.equal(training.DEFAULTS.imageSize, 0);
    // 16 px images: resnet20 trains at 16, with no resize in either pipeline beyond the identity.
    const small = await training.prepareRun(cfg({ data: greys, model: 'resnet20', valFraction: 0.34, workers: 0 }));
    assert.equal(small.imageSize, 16);
    assert.deepEqual(small.recipe.train.transforms[0], { op: 'resize', size: [16, 16] });
    assert.deepEqual(small.recipe.eval.transforms, [{ op: 'resize', size: [16, 16] }]);
    assert.equal(await training.resolveImageSize(cfg({ data: greys, model: 'resnet18' }), small.train), 224);
    assert.equal(training.imageSizeWithoutImages(cfg({ model: 'resnet20' })), 28); // Fashion-MNIST
    assert.equal(training.imageSizeWithoutImages(cfg({ data: greys, model: 'resnet20' })), null);
    // Larger than 64 px: a CIFAR-style model sees 32.
    const big = join(root, 'big');
    mkdirSync(join(big, 'a'), { recursive: true });
    await sharp(Buffer.alloc(100 * 80 * 3, 90), { raw: { width: 100, height: 80, channels: 3 } })
      .png()
      .toFile(join(big, 'a', '0.png'));
    const list = training.loadDataset(big).dataset;
    assert.equal(await training.resolveImageSize(cfg({ data: big, model: 'resnet20' }), list), 32);
    // The synchronous set-up cannot read images: it says what to use.
    assert.throws(() => training.prepareData(cfg({ data: greys, model: 'resnet20', normalize: 'none' })), /--image-size 0 \(auto\).*prepareRun/);
    // A trained run records the side it used.
    const out = join(root, 'auto-size');
    const trainer = await training.Trainer.create(
      cfg({ data: greys, model: 'resnet20', valFraction: 0.34, workers: 0, epochs: 1, batchSize: 4, out, precision: 'fp32' }),
      { log: null },
    );
    const written = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(written.imageSize, 16);
    assert.equal(written.lr, (0.1 * 4) / 256); // --lr 0 (auto), resolved by the Trainer too
    await trainer.close();
    trainer.model.dispose();
  });

  test("--lr 0 (auto): a plain recipe's rate — SGD 0.1 × batch/256 from scratch, ten times lower fine-tuning; Adam-style 1e-3", () => {
    assert.equal(training.DEFAULTS.lr, 0);
    const from = (values: Record<string, string>) => training.configFrom(values).lr;
    assert.equal(from({}), 0.1); // batch 256
    assert.equal(from({ 'batch-size': '128' }), 0.05);
    assert.equal(from({ optimizer: 'adamw' }), 1e-3);
    assert.equal(from({ lr: '0.2' }), 0.2);
    assert.equal(training.defaultLearningRate(cfg({ weights: 'w.pth', batchSize: 64 })), 0.0025);
    assert.equal(training.defaultLearningRate(cfg({ weights: 'w.pth', optimizer: 'rmsprop' })), 1e-4);
    assert.throws(() => training.configFrom({ lr: '-1' }), /--lr must be ≥ 0 \(0: auto\), got -1/);
  });

  test('named recipes and bad names', () => {
    const c = cfg({ data: colours, model: 'resnet20', imageSize: 32, normalize: 'none' });
    assert.deepEqual(training.recipeFor({ ...c, augment: 'none' }).train.transforms, [{ op: 'resize', size: [32, 32] }]);
    assert.deepEqual(training.recipeFor({ ...c, augment: 'flip' }).train.transforms, [{ op: 'resize', size: [32, 32] }, { op: 'hflip' }]);
    assert.deepEqual(training.recipeFor({ ...c, augment: 'crop-flip', cropPadding: 2 }).train.transforms[1], { op: 'randomCrop', size: 32, padding: 2 });
    assert.deepEqual(training.recipeFor({ ...c, augment: 'imagenet', rrcScale: 0.35 }).train.transforms[0], {
      op: 'randomResizedCrop',
      size: 32,
      scale: [0.35, 1],
    });
    assert.deepEqual(
      [training.recipeFor(c).train.mean, training.recipeFor(c).train.std],
      [
        [0, 0, 0],
        [1, 1, 1],
      ],
    );
    const r = spawnSync(process.execPath, [join(distRoot, 'src', 'cli', 'main.js'), 'train', '--augment', 'randomish'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--augment must be one of auto, none, flip, crop-flip, imagenet, randaugment, trivialaugment, got "randomish"/);
  });

  test('a run writes its recipe to recipe.json, and evaluation reads it back', async () => {
    const out = join(root, 'run');
    const c = cfg({ data: greys, model: 'resnet20', imageSize: 16, valFraction: 0.34, workers: 0, epochs: 1, batchSize: 4, out, precision: 'fp32' });
    (await training.train(c, { log: null })).model.dispose();
    const saved = JSON.parse(readFileSync(join(out, 'recipe.json'), 'utf8')) as training.Recipe;
    assert.equal(saved.train.channels, 1);
    // Evaluation finds the statistics in recipe.json, not by reading the data again: the data set's
    // statistics, the same in both pipelines (only eval's changed would be an edited recipe.json, refused).
    const stats = { mean: [0.5], std: [0.25] };
    writeFileSync(join(out, 'recipe.json'), JSON.stringify({ ...saved, train: { ...saved.train, ...stats }, eval: { ...saved.eval, ...stats } }));
    const run = training.loadRun(out);
    assert.deepEqual(run.recipe.eval.mean, [0.5]);
    run.model.dispose();
  });
});
