// The data pipeline on real image files written to a temp folder: sources, splits, transforms,
// the loader's determinism across worker counts, mixup, and every bad-data case.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import * as L from '../src/index.js';
import { data } from '../src/index.js';
import { assertClose } from './helpers.js';
import { parseTrainArgs } from '../src/cli/specs.js';

const LABELS = ['quercus', 'acer', 'betula'];
let root = '';

/** A w×h RGB image whose pixels depend on (i, x, y). */
function pixels(i: number, w: number, h: number): Buffer {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) px[(y * w + x) * 3 + c] = (x * 5 + y * 3 + c * 40 + i * 17) % 256;
  return px;
}

async function writeDataset(dir: string, count: number): Promise<void> {
  mkdirSync(join(dir, 'images'), { recursive: true });
  let csv = 'image,label\n';
  for (let i = 0; i < count; i++) {
    const [w, h] = [40 + (i % 5) * 6, 48 - (i % 4) * 4];
    const img = sharp(pixels(i, w, h), { raw: { width: w, height: h, channels: 3 } });
    const name = i % 4 === 0 ? `images/${i}.png` : `images/${i}.jpg`;
    await (i % 4 === 0 ? img.png() : img.jpeg({ quality: 90 })).toFile(join(dir, name));
    csv += `${name},${LABELS[i % 3]}\n`;
  }
  writeFileSync(join(dir, 'train.csv'), csv);
}

const plain = (size: number, o: Partial<data.Pipeline> = {}): data.Pipeline => ({
  transforms: [{ op: 'resize', size: [size, size] }],
  channels: 3,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  ...o,
});

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'lsr-data-'));
  await writeDataset(join(root, 'leaves'), 30);
});
after(() => rmSync(root, { recursive: true, force: true }));

describe('sources', () => {
  test('classify-leaves CSV: sorted vocabulary, labels mapped, paths relative to the CSV', () => {
    const { dataset } = data.readImageCsv(join(root, 'leaves', 'train.csv'), { labeled: true });
    assert.deepEqual(dataset.vocab.classes, ['acer', 'betula', 'quercus']);
    assert.equal(dataset.length, 30);
    assert.equal(dataset.sample(0).label, 2); // quercus
    assert.equal(dataset.sample(1).label, 0); // acer
    assert.equal(dataset.sample(4).name, 'images/4.png');
    assert.match(dataset.sample(4).where, /images\/4\.png \(train\.csv row 6\)$/);
  });

  test("an image folder per class, as torchvision's ImageFolder", async () => {
    const dir = join(root, 'folders');
    for (const c of ['b', 'a']) {
      mkdirSync(join(dir, c), { recursive: true });
      for (let i = 0; i < 2; i++)
        await sharp(pixels(i, 8, 8), { raw: { width: 8, height: 8, channels: 3 } })
          .png()
          .toFile(join(dir, c, `${i}.png`));
    }
    writeFileSync(join(dir, 'a', 'notes.txt'), 'not an image');
    const ds = data.readImageFolder(dir);
    assert.deepEqual(ds.vocab.classes, ['a', 'b']);
    assert.deepEqual(ds.labels(), [0, 0, 1, 1]);
    assert.equal(ds.sample(2).name, 'b/0.png');
  });

  test('IDX files, gzipped or not; Fashion-MNIST found where Debian installs it', () => {
    const images = Buffer.concat([Buffer.from([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])]);
    const labels = Buffer.from([0, 0, 8, 1, 0, 0, 0, 2, 1, 0]);
    writeFileSync(join(root, 'img.idx.gz'), gzipSync(images));
    writeFileSync(join(root, 'lab.idx'), labels);
    const ds = data.readIdxPair(join(root, 'img.idx.gz'), join(root, 'lab.idx'), ['zero', 'one']);
    assert.equal(ds.length, 2);
    const s = ds.sample(1);
    assert.equal(s.label, 0);
    assert.deepEqual(s.source.kind === 'raw' && [...s.source.pixels], [7, 8, 9, 10, 11, 12]);
    writeFileSync(join(root, 'short.idx'), images.subarray(0, 20));
    assert.throws(() => data.readIdx(join(root, 'short.idx')), /IDX dimensions \[2,2,3\] need 12 bytes of data, the file has 4/);
    if (existsSync('/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz')) {
      const fm = data.fashionMnist('t10k');
      assert.equal(fm.length, 10000);
      assert.equal(fm.vocab.classes[9], 'Ankle boot');
    }
  });
});

describe('splits', () => {
  const labels = Array.from({ length: 100 }, (_, i) => (i < 60 ? 0 : i < 90 ? 1 : 2));
  test('stratified: each class keeps its share; seeded', () => {
    const { train, val } = data.stratifiedSplit(labels, 0.2, 1);
    const count = (idx: number[], c: number) => idx.filter((i) => labels[i] === c).length;
    assert.deepEqual(
      [0, 1, 2].map((c) => count(val, c)),
      [12, 6, 2],
    );
    assert.equal(train.length + val.length, 100);
    assert.equal(new Set([...train, ...val]).size, 100);
    assert.deepEqual(data.stratifiedSplit(labels, 0.2, 1), { train, val });
    assert.notDeepEqual(data.stratifiedSplit(labels, 0.2, 2).val, val);
  });
  test('k-fold: every class spread evenly over the folds', () => {
    const folds = data.kFold(labels, 5, 0);
    for (const c of [0, 1, 2]) {
      const sizes = [0, 1, 2, 3, 4].map((f) => folds.filter((g, i) => g === f && labels[i] === c).length);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `class ${c}: ${sizes}`);
    }
  });
  test('a per-class subset', () => {
    const sub = data.perClassSubset(labels, 4, 0);
    assert.deepEqual(
      [0, 1, 2].map((c) => sub.filter((i) => labels[i] === c).length),
      [4, 4, 4],
    );
  });
  test('a limited run keeps the split in proportion, unless --val-limit-per-class sets the validation size', () => {
    const config = { ...L.training.DEFAULTS, data: 'fashion-mnist', limitPerClass: 20 };
    const perClass = (ds: data.SampleList) => ds.vocab.classes.map((_, c) => ds.samples.filter((s) => s.label === c).length);
    const proportional = L.training.prepareData(config);
    assert.deepEqual(perClass(proportional.train), Array(10).fill(20));
    assert.deepEqual(perClass(proportional.val), Array(10).fill(3)); // ⌈20 · 0.1 / 0.9⌉
    const wide = L.training.prepareData({ ...config, valLimitPerClass: 600 });
    assert.deepEqual(perClass(wide.val), Array(10).fill(600)); // all of Fashion-MNIST's 10% split
    assert.deepEqual(
      wide.train.samples.map((s) => s.name),
      proportional.train.samples.map((s) => s.name),
    );
    const trainNames = new Set(wide.train.samples.map((s) => s.name));
    assert.ok(
      wide.val.samples.every((s) => !trainNames.has(s.name)),
      'validation images are not training images',
    );
    assert.throws(() => parseTrainArgs('train', ['--val-limit-per-class', '-1']), /--val-limit-per-class must be an integer ≥ 0, got -1/);
  });
});

describe('transforms', () => {
  test('normalised values are (v/255 − mean)/std, in CHW order; grey is repeated to 3 channels', async () => {
    const file = join(root, 'solid.png');
    await sharp({ create: { width: 4, height: 3, channels: 3, background: { r: 200, g: 100, b: 50 } } })
      .png()
      .toFile(file);
    const ds = new data.SampleList([{ source: { kind: 'file', path: file }, label: 0, where: file, name: 'solid' }], new data.ClassVocabulary(['x']));
    const pipeline: data.Pipeline = { transforms: [], channels: 3, mean: data.IMAGENET_MEAN, std: data.IMAGENET_STD };
    const loader = new data.DataLoader(ds, { batchSize: 1, pipeline });
    for await (const b of loader.epoch()) {
      assert.deepEqual(b.x.shape, [1, 3, 3, 4]);
      const v = b.x.toFlatArray();
      const expected = [200, 100, 50].map((p, c) => (p / 255 - data.IMAGENET_MEAN[c]!) / data.IMAGENET_STD[c]!);
      assertClose(v.slice(0, 12), new Array(12).fill(expected[0]), 1e-6);
      assertClose(v.slice(12, 24), new Array(12).fill(expected[1]), 1e-6);
      assertClose(v.slice(24), new Array(12).fill(expected[2]), 1e-6);
      b.dispose();
    }
    for await (const b of new data.DataLoader(ds, { batchSize: 1, pipeline: { ...pipeline, channels: 1, mean: [0], std: [1] } }).epoch()) {
      assertClose(b.x.toFlatArray(), new Array(12).fill((200 * 299 + 100 * 587 + 50 * 114) / 1000 / 255), 1e-6); // PIL's luma
      b.dispose();
    }
    const grey = new data.SampleList(
      [{ source: { kind: 'raw', pixels: new Uint8Array([0, 51, 102, 255]), width: 2, height: 2, channels: 1 }, label: 0, where: 'raw', name: 'g' }],
      new data.ClassVocabulary(['x']),
    );
    for await (const b of new data.DataLoader(grey, { batchSize: 1, pipeline: { ...pipeline, mean: [0], std: [1] } }).epoch()) {
      assertClose(b.x.toFlatArray(), [0, 0.2, 0.4, 1, 0, 0.2, 0.4, 1, 0, 0.2, 0.4, 1], 1e-6);
      b.dispose();
    }
  });

  test("RandomResizedCrop draws torchvision's parameters: area and aspect within bounds, inside the image", () => {
    const rng = new data.Rng(5);
    for (let i = 0; i < 200; i++) {
      const [top, left, h, w] = data.randomResizedCropParams(120, 200, [0.08, 1], [3 / 4, 4 / 3], rng);
      assert.ok(top >= 0 && left >= 0 && top + h <= 120 && left + w <= 200);
      const area = (h * w) / (120 * 200);
      assert.ok(area >= 0.07 && area <= 1.01, `area ${area}`);
    }
    // A strip too thin for any allowed aspect falls back to the largest centered crop.
    assert.deepEqual(data.randomResizedCropParams(10, 1000, [0.9, 1], [3 / 4, 4 / 3], new data.Rng(1)), [0, 493, 10, 13]);
  });

  test("resizing is PIL's antialiased bilinear; a flip after a crop is folded into the same pass", async () => {
    const line = { data: new Uint8Array([0, 80, 160, 240]), width: 4, height: 1, channels: 1 };
    const half = await data.applyTransforms(line, [{ op: 'resize', size: [1, 2] }], new data.Rng(0));
    assert.deepEqual([...half.data], [57, 183]); // PIL: Image.resize((2, 1), BILINEAR) gives [57, 183]
    const img = await data.decode({ kind: 'file', path: join(root, 'leaves', 'images', '1.jpg') });
    for (const first of [
      { op: 'randomResizedCrop', size: 20 },
      { op: 'resize', size: 30 },
      { op: 'centerCrop', size: 24 },
    ] as data.Transform[]) {
      const folded = await data.applyTransforms(img, [first, { op: 'hflip', p: 1 }], new data.Rng(3));
      const separate = await data.applyTransforms(await data.applyTransforms(img, [first], new data.Rng(3)), [{ op: 'hflip', p: 1 }], new data.Rng(0));
      assert.deepEqual(folded, separate, JSON.stringify(first));
    }
    // a center crop larger than the image pads with zeros, as torchvision does
    const padded = await data.applyTransforms(line, [{ op: 'centerCrop', size: [1, 6] }], new data.Rng(0));
    assert.deepEqual([...padded.data], [0, 0, 80, 160, 240, 0]);
  });

  test('a horizontal flip mirrors the image; same seed, same augmentation', async () => {
    const img = { data: new Uint8Array([1, 2, 3, 4, 5, 6]), width: 3, height: 2, channels: 1 };
    const flipped = await data.applyTransforms(img, [{ op: 'hflip', p: 1 }], new data.Rng(0));
    assert.deepEqual([...flipped.data], [3, 2, 1, 6, 5, 4]);
    const big = { data: pixels(3, 50, 40), width: 50, height: 40, channels: 3 };
    const t: data.Transform[] = [
      { op: 'randomResizedCrop', size: 24 },
      { op: 'colorJitter', brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
      { op: 'rotate', degrees: 15 },
    ];
    const a = await data.applyTransforms(big, t, new data.Rng(9, 1, 2));
    const b = await data.applyTransforms(big, t, new data.Rng(9, 1, 2));
    assert.deepEqual(a, b);
    assert.equal(a.width, 24);
  });
});

describe('the loader', () => {
  const pipeline = (): data.Pipeline => ({
    transforms: [{ op: 'randomResizedCrop', size: 32 }, { op: 'hflip' }, { op: 'colorJitter', brightness: 0.3, hue: 0.05 }],
    channels: 3,
    mean: data.IMAGENET_MEAN,
    std: data.IMAGENET_STD,
  });
  async function epochBytes(workers: number, epoch: number): Promise<string[]> {
    const { dataset } = data.readImageCsv(join(root, 'leaves', 'train.csv'), { labeled: true });
    const loader = new data.DataLoader(dataset, { batchSize: 8, pipeline: pipeline(), shuffle: true, seed: 7, workers });
    const out: string[] = [];
    try {
      for await (const b of loader.epoch(epoch)) {
        assert.deepEqual(b.x.shape.slice(1), [3, 32, 32]);
        out.push(Buffer.from(b.x.bytes()).toString('base64') + b.indices.join());
        b.dispose();
      }
    } finally {
      await loader.close();
    }
    return out;
  }

  test('the same seed gives the same batch bytes with 0, 1 and 3 workers; epochs differ', async () => {
    const one = await epochBytes(1, 0);
    assert.equal(one.length, 4); // 30 images, batch 8, last batch kept
    assert.deepEqual(await epochBytes(3, 0), one);
    assert.deepEqual(await epochBytes(0, 0), one);
    assert.notDeepEqual(await epochBytes(0, 1), one);
  });

  test('worker threads run at a lower priority than the compute threads (niceness 10)', async () => {
    const niceness = () =>
      readdirSync('/proc/self/task').map((tid) => {
        try {
          return Number(readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
        } catch {
          return NaN; // a thread that ended meanwhile
        }
      });
    const { dataset } = data.readImageCsv(join(root, 'leaves', 'train.csv'), { labeled: true });
    const loader = new data.DataLoader(dataset, { batchSize: 8, pipeline: pipeline(), workers: 2 });
    try {
      for await (const b of loader.epoch(0)) b.dispose();
      const n = niceness();
      assert.equal(n.filter((v) => v === 10).length, 2, `thread niceness: ${n.join(' ')}`);
      assert.ok(n.filter((v) => v === 0).length >= 1, 'the main thread keeps its priority');
    } finally {
      await loader.close();
    }
  });

  test('dropLast and labels', async () => {
    const { dataset } = data.readImageCsv(join(root, 'leaves', 'train.csv'), { labeled: true });
    const loader = new data.DataLoader(dataset, { batchSize: 8, pipeline: plain(16), dropLast: true });
    assert.equal(loader.length, 3);
    const labels: number[] = [];
    for await (const b of loader.epoch()) {
      labels.push(...b.y.toFlatArray());
      b.dispose();
    }
    assert.deepEqual(labels, dataset.labels().slice(0, 24));
  });
});

describe('bad data: clear errors naming the file and the CSV row', () => {
  const csv = (name: string, text: string) => {
    const dir = join(root, 'bad', name);
    mkdirSync(join(dir, 'images'), { recursive: true });
    writeFileSync(join(dir, 'train.csv'), text);
    return join(dir, 'train.csv');
  };
  const read = (path: string, labeled = true) => data.readImageCsv(path, { labeled });

  test('empty CSV, wrong header, header only, test CSV with labels, train CSV without', () => {
    assert.throws(() => read(csv('empty', '')), /train\.csv: the CSV is empty \(expected a header 'image,label'\)/);
    // A folder named where a CSV is expected (predict --data DIR) says so, not EISDIR.
    assert.throws(() => read(join(root, 'bad'), false), /bad is a folder, not a CSV file \(a header 'image', then a row per image\)/);
    assert.throws(() => read(csv('header', 'file,class\na.jpg,x\n')), /row 1 is not the expected header 'image,label' \(found 'file,class'\)/);
    assert.throws(() => read(csv('only', 'image,label\n')), /the CSV has a header but no rows/);
    assert.throws(() => read(csv('testlabels', 'image,label\na.jpg,x\n'), false), /has a 'label' column: this looks like the training CSV/);
    assert.throws(() => read(csv('nolabels', 'image\na.jpg\n')), /the header has no 'label' column/);
  });

  test('a missing image and duplicated rows name the rows', async () => {
    const path = csv('missing', 'image,label\nimages/a.png,x\nimages/gone.png,y\n');
    await sharp(pixels(0, 4, 4), { raw: { width: 4, height: 4, channels: 3 } })
      .png()
      .toFile(join(root, 'bad', 'missing', 'images', 'a.png'));
    assert.throws(() => read(path), /images\/gone\.png \(train\.csv row 3\): the image file does not exist/);
    const skipped = data.readImageCsv(path, { labeled: true, skipMissing: true });
    assert.equal(skipped.dataset.length, 1);
    assert.match(skipped.missing[0]!, /gone\.png \(train\.csv row 3\)/);
    assert.throws(
      () => read(csv('dup', 'image,label\nimages/a.png,x\nimages/b.png,x\nimages/a.png,y\n')),
      /image 'images\/a\.png' appears twice, rows 2 and 4/,
    );
  });

  test('an unknown label at predict/eval time names the row', () => {
    const path = csv('unknown', 'image,label\nimages/a.png,x\n');
    writeFileSync(join(root, 'bad', 'unknown', 'images', 'a.png'), 'x');
    assert.throws(
      () => data.readImageCsv(path, { labeled: true, vocab: new data.ClassVocabulary(['y']) }),
      /\(train\.csv row 2\): unknown label 'x' \(not among the 1 classes/,
    );
  });

  test('corrupt and truncated images stop the loader with the file and row, or are skipped and listed', async () => {
    const dir = join(root, 'bad', 'corrupt');
    const path = csv('corrupt', 'image,label\nimages/good.jpg,x\nimages/garbage.jpg,x\nimages/cut.jpg,y\n');
    const good = await sharp(pixels(1, 30, 30), { raw: { width: 30, height: 30, channels: 3 } })
      .jpeg()
      .toBuffer();
    writeFileSync(join(dir, 'images', 'good.jpg'), good);
    writeFileSync(join(dir, 'images', 'garbage.jpg'), Buffer.from('this is not a jpeg at all'));
    writeFileSync(join(dir, 'images', 'cut.jpg'), good.subarray(0, good.length >> 1));
    const { dataset } = read(path);
    const strict = new data.DataLoader(dataset, { batchSize: 3, pipeline: plain(16) });
    await assert.rejects(async () => {
      for await (const b of strict.epoch()) b.dispose();
    }, /garbage\.jpg \(train\.csv row 3\): cannot read the image: .* \(and 1 more in this batch\); fix or remove the image \(the training commands, train, compare, demo and distill, take --skip-bad-images/);
    const lenient = new data.DataLoader(dataset, { batchSize: 3, pipeline: plain(16), skipBadImages: true });
    const sizes: number[] = [];
    for await (const b of lenient.epoch()) {
      sizes.push(b.x.shape[0]!);
      b.dispose();
    }
    assert.deepEqual(sizes, [1]);
    assert.equal(lenient.badImages.length, 2);
    assert.match(lenient.badImages[1]!, /cut\.jpg \(train\.csv row 4\): cannot read the image/);
    lenient.saveBadImages(join(dir, 'bad-images.txt'));
    assert.equal(readFileSync(join(dir, 'bad-images.txt'), 'utf8').trim().split('\n').length, 2);
  });
});

test('test-time augmentation averages the probabilities of the image and its mirror', () => {
  L.tidy(() => {
    const x = L.randn([2, 3, 4, 5]);
    const forward = (v: L.Tensor) => v.mean([2]).flatten(1).narrow(1, 0, 4); // not mirror-invariant
    const expected = L.F.softmax(forward(x), 1)
      .add(L.F.softmax(forward(x.flip([3])), 1))
      .div(2);
    assert.ok(data.flipAveragedProbabilities(forward, x).allclose(expected));
  });
});

describe('mixup and CutMix', () => {
  test("mixup: x·λ + flip(x)·(1 − λ) and timm's soft targets; CutMix pastes a box and corrects λ by its area", () => {
    L.tidy(() => {
      const x = L.fromTypedArray(
        Float32Array.from({ length: 2 * 1 * 4 * 4 }, (_, i) => i),
        [2, 1, 4, 4],
      );
      const y = L.tensor([0, 2], { dtype: 'int64' });
      const mix = new data.Mixup({ mixupAlpha: 1, numClasses: 3, labelSmoothing: 0.1, seed: 1 });
      const { lam } = mix.params(0, 0);
      const out = mix.apply(x, y, 0, 0);
      assert.ok(out.x.allclose(x.mul(lam).add(x.flip([0]).mul(1 - lam))));
      assertClose(out.target.sum(1).toFlatArray(), [1, 1], 1e-6);
      assertClose(out.target.select(0, 0).toFlatArray(), mixedTargetRow(0, 2, lam), 1e-6);

      const cut = new data.Mixup({ mixupAlpha: 0, cutmixAlpha: 1, numClasses: 3, labelSmoothing: 0, seed: 4 });
      const c = cut.apply(x, y, 0, 0);
      const changed = c.x.ne(x).sum().item() / 2; // pixels pasted in each image
      assertClose(c.target.select(0, 0).toFlatArray()[0]!, 1 - changed / 16, 1e-6);
    });
  });
});

/** Row 0 of timm's mixup target for labels (a, b) with 3 classes, ε = 0.1. */
function mixedTargetRow(a: number, b: number, lam: number): number[] {
  const smooth = (c: number) => [0, 1, 2].map((k) => (k === c ? 0.9 + 0.1 / 3 : 0.1 / 3));
  return smooth(a).map((v, k) => lam * v + (1 - lam) * smooth(b)[k]!);
}

describe('data the reference tools read (issue 17, item 8)', () => {
  test('a CMYK JPEG decodes (libvips converts what libjpeg-turbo cannot), as PIL and sharp read it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lsr-cmyk-'));
    try {
      const px = Buffer.alloc(8 * 8 * 3);
      for (let k = 0; k < px.length; k++) px[k] = (k * 37) % 256;
      const path = join(dir, 'cmyk.jpg');
      await sharp(px, { raw: { width: 8, height: 8, channels: 3 } })
        .toColourspace('cmyk')
        .jpeg({ quality: 95 })
        .toFile(path);
      assert.equal((await sharp(path).metadata()).space, 'cmyk');
      const img = await data.decode({ kind: 'file', path });
      assert.deepEqual([img.width, img.height, img.channels], [8, 8, 3]);
      const reference = await sharp(path).toColourspace('srgb').raw().toBuffer();
      assert.deepEqual(Buffer.from(img.data), reference);
      // A truly corrupt JPEG is still an error.
      writeFileSync(join(dir, 'bad.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
      await assert.rejects(data.decode({ kind: 'file', path: join(dir, 'bad.jpg') }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("CSV paths that leave the dataset's folder are refused unless allowed; two spellings of one file are a duplicate", () => {
    const dir = mkdtempSync(join(tmpdir(), 'lsr-paths-'));
    try {
      mkdirSync(join(dir, 'images'));
      writeFileSync(join(dir, 'images', '0.png'), '');
      writeFileSync(join(dir, 'escape.csv'), 'image,label\nimages/0.png,a\n../../../../etc/passwd,b\n');
      assert.throws(
        () => data.readImageCsv(join(dir, 'escape.csv'), { labeled: true }),
        /escape\.csv: row 3: image '\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd' is outside the dataset's folder/,
      );
      assert.equal(data.readImageCsv(join(dir, 'escape.csv'), { labeled: true, allowOutside: true }).dataset.length, 2);
      writeFileSync(join(dir, 'twice.csv'), 'image,label\n./images/0.png,a\nimages/0.png,a\n');
      assert.throws(() => data.readImageCsv(join(dir, 'twice.csv'), { labeled: true }), /image 'images\/0\.png' appears twice, rows 2 and 3/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("classes sort by code point, as Python's sorted() (ImageFolder, LabelEncoder)", () => {
    // UTF-16 order would put the emoji (a surrogate pair, D83D…) before U+FF01.
    assert.deepEqual(data.ClassVocabulary.fromLabels(['😀', '！', 'a', 'ab']).classes, ['a', 'ab', '！', '😀']);
    const dir = mkdtempSync(join(tmpdir(), 'lsr-sort-'));
    try {
      for (const c of ['😀', '！']) {
        mkdirSync(join(dir, c));
        writeFileSync(join(dir, c, 'x.png'), '');
      }
      assert.deepEqual(data.readImageFolder(dir).vocab.classes, ['！', '😀']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
