// torchvision's RandAugment and TrivialAugmentWide: every op pixel for pixel against torchvision 0.14
// on PIL images (fixtures from test/fixtures/make-autoaugment-fixtures.py), the magnitude tables, the
// policies' draws, the recipes that use them, and the loader's batches whatever the worker count.
// Every op is exact: lsr repeats PIL's float32 and 16.16 fixed-point arithmetic step by step.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { data, training } from '../src/index.js';
import { distRoot, fixtures } from './helpers.js';

interface OpsFixture {
  torchvision: string;
  images: Array<{ name: string; width: number; height: number; channels: number; data: string }>;
  cases: Array<{ image: string; op: data.AugmentOp; magnitude: number; why: string; out: string }>;
}
type TableFixture = Record<string, [number[] | null, boolean]>;
interface TablesFixture {
  randaugment: Array<{ bins: number; height: number; width: number; space: TableFixture }>;
  trivialaugment: Array<{ bins: number; space: TableFixture }>;
}

const dir = join(fixtures, 'autoaugment');
const ops = JSON.parse(readFileSync(join(dir, 'ops.json'), 'utf8')) as OpsFixture;
const tables = JSON.parse(readFileSync(join(dir, 'tables.json'), 'utf8')) as TablesFixture;
const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
const images = new Map(ops.images.map((m) => [m.name, { data: bytes(m.data), width: m.width, height: m.height, channels: m.channels }]));
const image = (name: string): data.RawImage => {
  const img = images.get(name)!;
  return { ...img, data: img.data.slice() };
};

/** The first differing pixel, for a readable failure. */
function firstDifference(actual: Uint8Array, expected: Uint8Array): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} vs ${expected.length}`;
  const i = actual.findIndex((v, k) => v !== expected[k]);
  return i < 0 ? null : `byte ${i}: ${actual[i]} vs torchvision's ${expected[i]}`;
}

describe("the ops against torchvision's _apply_op on PIL images", () => {
  assert.match(ops.torchvision, /^0\.14/);
  for (const op of data.AUGMENT_OPS)
    test(op, () => {
      const cases = ops.cases.filter((c) => c.op === op);
      assert.ok(cases.length >= 2, `${op}: fixtures`);
      for (const c of cases) {
        const input = image(c.image);
        const out = data.applyAugmentOp(input, op, c.magnitude);
        assert.deepEqual([out.width, out.height, out.channels], [input.width, input.height, input.channels]);
        const diff = firstDifference(out.data, bytes(c.out));
        assert.equal(diff, null, `${op}(${c.magnitude}) on ${c.image} (${c.why}): ${diff}`);
        assert.deepEqual(input.data, images.get(c.image)!.data, 'the input is left as it was');
      }
    });

  test('only 1- and 3-channel images', () => {
    assert.throws(() => data.applyAugmentOp({ data: new Uint8Array(8), width: 1, height: 2, channels: 4 }, 'Equalize', 0), /1 or 3 channels/);
  });
});

describe("the magnitude tables: torchvision's _augmentation_space (torch.linspace's float32 values)", () => {
  const check = (ours: data.AugmentationSpace, theirs: TableFixture, what: string) => {
    assert.deepEqual(Object.keys(ours), Object.keys(theirs), `${what}: the ops in torchvision's order`);
    assert.deepEqual(Object.keys(theirs), [...data.AUGMENT_OPS]);
    for (const [op, [magnitudes, signed]] of Object.entries(theirs)) assert.deepEqual(ours[op as data.AugmentOp], { magnitudes, signed }, `${what} ${op}`);
  };
  test('RandAugment, for several bin counts and image sizes', () => {
    for (const t of tables.randaugment) check(data.randAugmentSpace(t.bins, t.height, t.width), t.space, `${t.bins} bins, ${t.height}×${t.width}`);
  });
  test('TrivialAugmentWide, for several bin counts', () => {
    for (const t of tables.trivialaugment) check(data.trivialAugmentWideSpace(t.bins), t.space, `${t.bins} bins`);
  });
});

describe('the policies', () => {
  const rgb = () => image('rgb');

  test('the same stream gives the same image; a policy is its draws applied in order', async () => {
    for (let i = 0; i < 20; i++) {
      const a = data.randAugment(rgb(), new data.Rng(5, 0, i));
      assert.deepEqual(a, data.randAugment(rgb(), new data.Rng(5, 0, i)));
      let b = rgb();
      for (const d of data.drawRandAugment(new data.Rng(5, 0, i), b.height, b.width)) b = data.applyAugmentOp(b, d.op, d.magnitude);
      assert.deepEqual(a, b);
      const t = data.trivialAugmentWide(rgb(), new data.Rng(5, 0, i));
      const d = data.drawTrivialAugment(new data.Rng(5, 0, i));
      assert.deepEqual(t, data.applyAugmentOp(rgb(), d.op, d.magnitude));
      // applyTransforms dispatches to them, with the options' defaults
      assert.deepEqual(await data.applyTransforms(rgb(), [{ op: 'randaugment' }], new data.Rng(5, 0, i)), a);
      assert.deepEqual(await data.applyTransforms(rgb(), [{ op: 'trivialaugment', numMagnitudeBins: 31 }], new data.Rng(5, 0, i)), t);
    }
    assert.deepEqual(data.randAugment(rgb(), new data.Rng(1), { numOps: 0 }), rgb());
  });

  test("RandAugment: 14 ops drawn uniformly, each at the magnitude's bin, signed ops of either sign; epochs draw differently", () => {
    const [h, w] = [10, 12];
    const space = data.randAugmentSpace(31, h, w);
    const count = new Map<string, number>();
    const signs = new Map<string, Set<number>>();
    const plan = (epoch: number) => Array.from({ length: 500 }, (_, i) => data.drawRandAugment(new data.Rng(3, epoch, i), h, w, { magnitude: 12 }));
    const epoch0 = plan(0);
    for (const draws of epoch0) {
      assert.equal(draws.length, 2);
      for (const d of draws) {
        count.set(d.op, (count.get(d.op) ?? 0) + 1);
        const { magnitudes, signed } = space[d.op];
        const m = magnitudes ? magnitudes[12]! : 0;
        assert.ok(d.magnitude === m || (signed && d.magnitude === -m), `${d.op} ${d.magnitude}`);
        if (m !== 0) signs.set(d.op, (signs.get(d.op) ?? new Set()).add(Math.sign(d.magnitude)));
      }
    }
    assert.deepEqual([...count.keys()].sort(), [...data.AUGMENT_OPS].sort());
    for (const [op, n] of count) assert.ok(n > 1000 / 14 / 2 && n < (1000 / 14) * 2, `${op} drawn ${n} times of 1000`);
    for (const op of data.AUGMENT_OPS) if (space[op].signed) assert.deepEqual([...signs.get(op)!].sort(), [-1, 1], op);
    const epoch1 = plan(1);
    const same = epoch0.filter((d, i) => JSON.stringify(d) === JSON.stringify(epoch1[i])).length;
    assert.ok(same < 25, `${same} of 500 samples drew the same ops in epochs 0 and 1`);
  });

  test('TrivialAugmentWide: every op reachable, every bin drawn, magnitudes within the table', () => {
    const space = data.trivialAugmentWideSpace(31);
    const bins = new Map<string, Set<number>>();
    const count = new Map<string, number>();
    for (let i = 0; i < 6000; i++) {
      const d = data.drawTrivialAugment(new data.Rng(11, 0, i));
      count.set(d.op, (count.get(d.op) ?? 0) + 1);
      const { magnitudes, signed } = space[d.op];
      if (!magnitudes) {
        assert.equal(d.magnitude, 0, d.op);
        continue;
      }
      const bin = magnitudes.indexOf(signed ? Math.abs(d.magnitude) : d.magnitude);
      assert.ok(bin >= 0, `${d.op} ${d.magnitude} is not in the table`);
      assert.ok(signed || d.magnitude >= 0);
      const lo = Math.min(...magnitudes);
      const hi = Math.max(...magnitudes);
      assert.ok(Math.abs(d.magnitude) >= lo && Math.abs(d.magnitude) <= hi, `${d.op} ${d.magnitude} outside [${lo}, ${hi}]`);
      bins.set(d.op, (bins.get(d.op) ?? new Set()).add(signed ? bin * Math.sign(d.magnitude || 1) : bin));
    }
    assert.deepEqual([...count.keys()].sort(), [...data.AUGMENT_OPS].sort());
    for (const [op, n] of count) assert.ok(n > 6000 / 14 / 1.5 && n < (6000 / 14) * 1.5, `${op} drawn ${n} times of 6000`);
    for (const op of data.AUGMENT_OPS) {
      const { magnitudes, signed } = space[op];
      if (!magnitudes) continue;
      // Every bin (and, for signed ops, both signs of every non-zero bin) comes up.
      const expected = signed ? 2 * new Set(magnitudes.filter((m) => m !== 0)).size + 1 : new Set(magnitudes).size;
      assert.equal(bins.get(op)!.size, expected, op);
    }
    // The widest ranges are TrivialAugmentWide's: ±135° rotations, ±32 px translations, posterize to 2 bits.
    assert.deepEqual(
      [space.Rotate.magnitudes!.at(-1), space.TranslateX.magnitudes!.at(-1), space.Posterize.magnitudes!.at(-1), space.ShearX.magnitudes!.at(-1)],
      [135, 32, 2, Math.fround(0.99)],
    );
  });

  test('bad options are errors', async () => {
    const img = rgb();
    assert.throws(() => data.randAugment(img, new data.Rng(0), { magnitude: 31 }), /magnitude must be an integer bin in \[0, 30\]/);
    assert.throws(() => data.randAugment(img, new data.Rng(0), { numOps: -1 }), /numOps must be an integer ≥ 0/);
    assert.throws(() => data.trivialAugmentWide(img, new data.Rng(0), { numMagnitudeBins: 1 }), /numMagnitudeBins must be an integer ≥ 2/);
    await assert.rejects(data.applyTransforms(img, [{ op: 'randaugment', magnitude: 5, numMagnitudeBins: 5 }], new data.Rng(0)), /magnitude must be/);
  });
});

describe('recipes with --augment randaugment and trivialaugment', () => {
  const cfg = (o: Partial<training.TrainConfig>): training.TrainConfig => ({ ...training.DEFAULTS, data: 'images', normalize: 'none', ...o });
  const ra: data.Transform = { op: 'randaugment', numOps: 2, magnitude: 9, numMagnitudeBins: 31 };
  const ta: data.Transform = { op: 'trivialaugment', numMagnitudeBins: 31 };

  test('small images: resize, padding crop and flip, then the policy; evaluation keeps the whole image', () => {
    for (const [augment, policy] of [
      ['randaugment', ra],
      ['trivialaugment', ta],
    ] as const) {
      const r = training.recipeFor(cfg({ model: 'resnet20', imageSize: 32, augment }));
      assert.deepEqual(r.train.transforms, [{ op: 'resize', size: [32, 32] }, { op: 'randomCrop', size: 32, padding: 4 }, { op: 'hflip' }, policy]);
      assert.deepEqual(r.eval.transforms, [{ op: 'resize', size: [32, 32] }]);
      // An ImageNet model on small images is small by its image size.
      const s = training.recipeFor(cfg({ model: 'resnet18', imageSize: 64, augment }));
      assert.deepEqual(s.train.transforms, [{ op: 'resize', size: [64, 64] }, { op: 'randomCrop', size: 64, padding: 8 }, { op: 'hflip' }, policy]);
    }
    const f = training.recipeFor(cfg({ data: 'fashion-mnist', model: 'resnet20', normalize: 'auto', augment: 'randaugment' }));
    assert.deepEqual(f.train.transforms, [{ op: 'randomCrop', size: 28, padding: 2 }, { op: 'hflip' }, ra]);
    assert.deepEqual(f.eval.transforms, []);
    assert.match(
      training.recipeFor(cfg({ model: 'resnet20', imageSize: 32, augment: 'randaugment' })).description,
      /^randaugment: resize to 32×32, random 32×32 crop after 4 px zero padding, random horizontal flip, torchvision's RandAugment \(2 ops at magnitude 9 of 31\); no normalisation/,
    );
  });

  test("large images: RandomResizedCrop and flip, then the policy; evaluation as torchvision's (resize, centre crop)", () => {
    for (const [augment, policy] of [
      ['randaugment', ra],
      ['trivialaugment', ta],
    ] as const) {
      const r = training.recipeFor(cfg({ model: 'resnet50', imageSize: 224, augment }));
      assert.deepEqual(r.train.transforms, [{ op: 'randomResizedCrop', size: 224, scale: [0.08, 1] }, { op: 'hflip' }, policy]);
      assert.deepEqual(r.eval.transforms, data.evalPipeline(224).transforms);
    }
    assert.match(
      training.recipeFor(cfg({ model: 'resnet50', imageSize: 224, augment: 'trivialaugment' })).description,
      /^trivialaugment: RandomResizedCrop 224×224 \(scale 0\.08–1\), random horizontal flip, torchvision's TrivialAugmentWide \(1 op, magnitude drawn from 31 bins\); evaluation: resize to 256, centre crop 224;/,
    );
  });

  test('a bad --augment name names the option and the choices', () => {
    assert.throws(
      () => training.validate(cfg({ augment: 'randaug' })),
      /--augment must be one of auto, none, flip, crop-flip, imagenet, randaugment, trivialaugment, got "randaug"/,
    );
    const r = spawnSync(process.execPath, [join(distRoot, 'src', 'cli', 'main.js'), 'train', '--augment', 'trivial'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--augment must be one of .*randaugment, trivialaugment, got "trivial"/);
  });
});

describe('the loader with RandAugment', () => {
  // Twelve 20×16 colour images in memory, each its own gradient.
  const samples: data.Sample[] = Array.from({ length: 12 }, (_, n) => {
    const pixels = new Uint8Array(20 * 16 * 3);
    for (let i = 0; i < 20 * 16; i++) {
      const [x, y] = [i % 20, Math.floor(i / 20)];
      pixels.set([(x * 11 + n * 20) % 256, (y * 13 + n * 7) % 256, (x * y + n * 31) % 256], i * 3);
    }
    return { source: { kind: 'raw', pixels, width: 20, height: 16, channels: 3 }, label: n % 2, where: `raw ${n}`, name: `${n}` };
  });
  const dataset = new data.SampleList(samples, new data.ClassVocabulary(['a', 'b']));
  const pipeline: data.Pipeline = { transforms: [{ op: 'randaugment' }], channels: 3, mean: data.IMAGENET_MEAN, std: data.IMAGENET_STD };

  async function epochBytes(workers: number, epoch: number, transforms = pipeline.transforms): Promise<string[]> {
    const loader = new data.DataLoader(dataset, { batchSize: 5, pipeline: { ...pipeline, transforms }, shuffle: true, seed: 4, workers });
    const out: string[] = [];
    try {
      for await (const b of loader.epoch(epoch)) {
        assert.deepEqual(b.x.shape.slice(1), [3, 16, 20]);
        out.push(`${Buffer.from(b.x.bytes()).toString('base64')} ${b.indices.join()}`);
        b.dispose();
      }
    } finally {
      await loader.close();
    }
    return out;
  }

  test('batches of the right shape, identical with 0 and 2 workers; epochs differ; the policy changes the pixels', async () => {
    const none = await epochBytes(0, 0);
    assert.equal(none.length, 3); // 12 images, batch 5, the last batch kept
    assert.deepEqual(await epochBytes(2, 0), none);
    assert.notDeepEqual(await epochBytes(0, 1), none);
    assert.notDeepEqual(await epochBytes(0, 0, []), none);
    assert.deepEqual(await epochBytes(2, 3, [{ op: 'trivialaugment' }]), await epochBytes(0, 3, [{ op: 'trivialaugment' }]));
  });
});
