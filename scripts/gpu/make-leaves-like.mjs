#!/usr/bin/env node
// A dataset shaped like Kaggle's classify-leaves, for timing lsr where the real one is not at hand
// (the GPU machine has no network): DIR/train.csv (image,label), DIR/test.csv (image), DIR/images/N.jpg,
// 18,353 training and 8,800 test JPEGs of 224×224 RGB over 176 classes by default, plus
// DIR/test_labels.csv (not in Kaggle's: the test set's answers). Each class is a leaf shape (lobes,
// elongation, veins, colour) drawn from the seed; each image a jittered instance of it (pose, size,
// hue, brightness, noise), so that a model learns it and accuracy curves mean something. Pixels
// depend only on (seed, image index), never on the worker count; JPEGs are encoded by sharp
// (libvips' libjpeg-turbo, 4:2:0) in worker threads. It needs Node and sharp, not lsr's addon nor
// dist/: a GPU session makes the data set for PyTorch's reference run even when the addon fails.
//   node scripts/gpu/make-leaves-like.mjs DIR [--train N] [--test N] [--classes N] [--size PX]
//        [--workers N] [--seed N] [--quality Q]
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const GENERA = (
  'acer aesculus ailanthus albizia amelanchier betula carpinus carya castanea catalpa celtis cercis chionanthus cladrastis cornus ' +
  'crataegus diospyros fagus fraxinus ginkgo gleditsia gymnocladus ilex juglans koelreuteria liquidambar liriodendron maclura ' +
  'magnolia malus morus nyssa ostrya oxydendrum platanus populus prunus ptelea pyrus quercus robinia salix sassafras sophora styrax ' +
  'tilia ulmus zelkova'
).split(' ');
const EPITHETS = (
  'alba americana angustifolia bicolor campestre canadensis cordata dentata elliptica falcata glabra grandifolia imbricaria japonica ' +
  'laevis macrocarpa marilandica nigra occidentalis orientalis palustris pensylvanica platanoides pumila rubra rubrum saccharinum ' +
  'serrulata stellata sylvatica tomentosa triacanthos tulipifera velutina virginiana viridis'
).split(' ');

/** splitmix32: a well-mixed 32-bit hash, the seed of each image's generator. */
function mix(x) {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
/** mulberry32: uniform floats in [0, 1) from a 32-bit state. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const streams = { classes: 1, labels: 2, image: 3 };
const rngFor = (seed, stream, i) => rng(mix(mix(mix(seed) ^ stream) ^ i));

function hsv(h, s, v) {
  const f = (n) => {
    const k = (n + h / 60) % 6;
    return v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
  };
  return [f(5) * 255, f(3) * 255, f(1) * 255];
}

/** Each class's leaf: name, outline, veins and colour. */
function makeClasses(seed, n) {
  const r = rngFor(seed, streams.classes, 0);
  const names = new Set();
  while (names.size < n) {
    const name = `${GENERA[Math.floor(r() * GENERA.length)]}_${EPITHETS[Math.floor(r() * EPITHETS.length)]}`;
    names.add(names.size >= GENERA.length * EPITHETS.length ? `${name}_${names.size}` : name);
  }
  return [...names].map((name) => ({
    name,
    lobes: [0, 0, 2, 3, 3, 5, 5, 7, 9][Math.floor(r() * 9)],
    depth: 0.08 + r() * 0.3,
    aspect: 0.3 + r() * 0.7,
    serration: r() < 0.5 ? 0 : 0.02 + r() * 0.04,
    veinFreq: 4 + r() * 14,
    veinSlope: r() * 1.5,
    veinContrast: 0.08 + r() * 0.25,
    hue: 15 + r() * 120,
    sat: 0.35 + r() * 0.55,
    val: 0.3 + r() * 0.55,
    tip: r() * 0.5,
  }));
}

/** Kaggle's classes are unbalanced (51 to 353 images): counts drawn in proportion to weights in [0.5, 3]. */
function makeLabels(seed, classes, train, test) {
  const r = rngFor(seed, streams.labels, 0);
  const weights = Array.from({ length: classes }, () => 0.5 + 2.5 * r() * r());
  const total = weights.reduce((a, b) => a + b, 0);
  const counts = (n) => {
    const exact = weights.map((w) => (w / total) * n);
    const c = exact.map(Math.floor);
    const order = exact.map((e, i) => [e - Math.floor(e), i]).sort((a, b) => b[0] - a[0]);
    for (let k = 0, left = n - c.reduce((a, b) => a + b, 0); k < left; k++) c[order[k % classes][1]]++;
    return c;
  };
  const labels = new Int16Array(train + test);
  let i = 0;
  for (const [offset, c] of [
    [0, counts(train)],
    [train, counts(test)],
  ]) {
    i = offset;
    c.forEach((count, k) => {
      for (let j = 0; j < count; j++) labels[i++] = k;
    });
    // Fisher–Yates over this part: Kaggle's CSV lists the classes mixed.
    const end = i;
    for (let j = end - 1; j > offset; j--) {
      const m = offset + Math.floor(r() * (j - offset + 1));
      [labels[j], labels[m]] = [labels[m], labels[j]];
    }
  }
  return labels;
}

/** Image `index` of class `leaf`: size × size × 3 bytes. */
function render(seed, index, leaf, size) {
  const r = rngFor(seed, streams.image, index);
  const px = new Uint8Array(size * size * 3);
  const jitter = (a) => 1 + (r() * 2 - 1) * a;
  const [lr, lg, lb] = hsv((leaf.hue + (r() * 2 - 1) * 12 + 360) % 360, Math.min(1, leaf.sat * jitter(0.15)), Math.min(1, leaf.val * jitter(0.2)));
  const bgLevel = 200 + r() * 50;
  const bgTint = [jitter(0.05), jitter(0.05), jitter(0.05)];
  const bgSlope = (r() * 2 - 1) * 0.25;
  const angle = r() * 2 * Math.PI;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const half = size / 2;
  const scale = half * (0.45 + r() * 0.35);
  const aspect = leaf.aspect * jitter(0.1);
  const depth = leaf.depth * jitter(0.2);
  const cx = half + (r() * 2 - 1) * size * 0.1;
  const cy = half + (r() * 2 - 1) * size * 0.1;
  const phase = r() * 2 * Math.PI;
  const noise = 4 + r() * 14;
  let state = mix(mix(seed) ^ index ^ 0x5bd1e995) || 1;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      // xorshift32: cheap per-pixel noise
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const n = ((state & 255) / 255 - 0.5) * noise;
      const dx = x - cx;
      const dy = y - cy;
      const u = (dx * cos + dy * sin) / scale;
      const v = (-dx * sin + dy * cos) / (scale * aspect);
      const r2 = u * u + v * v;
      let inside = false;
      let rad = 0;
      let edge = 1;
      if (r2 < 2.2) {
        rad = Math.sqrt(r2);
        const phi = Math.atan2(v, u);
        edge = 1 + depth * Math.cos(leaf.lobes * phi) + leaf.serration * Math.cos(48 * phi) + leaf.tip * Math.max(0, Math.cos(phi)) ** 8;
        inside = rad < edge;
      }
      const o = (y * size + x) * 3;
      if (inside) {
        const vein = Math.abs(v) < 0.025 * (1.2 - rad) ? 1 : Math.sin(leaf.veinFreq * (u - leaf.veinSlope * Math.abs(v)) + phase) > 0.92 ? 0.6 : 0;
        const shade = (1 - 0.3 * (rad / edge) ** 2) * (1 + leaf.veinContrast * vein);
        px[o] = Math.max(0, Math.min(255, lr * shade + n));
        px[o + 1] = Math.max(0, Math.min(255, lg * shade + n));
        px[o + 2] = Math.max(0, Math.min(255, lb * shade + n));
      } else {
        const level = bgLevel * (1 + bgSlope * ((x + y) / size - 1));
        px[o] = Math.max(0, Math.min(255, level * bgTint[0] + n));
        px[o + 1] = Math.max(0, Math.min(255, level * bgTint[1] + n));
        px[o + 2] = Math.max(0, Math.min(255, level * bgTint[2] + n));
      }
    }
  }
  return px;
}

function parseArgs(argv) {
  const o = { dir: null, train: 18353, test: 8800, classes: 176, size: 224, workers: availableParallelism(), seed: 0, quality: 90 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const key = a.slice(2);
      if (!(key in o) || key === 'dir') throw new Error(`unknown option ${a}`);
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`${a} must be an integer ≥ 0, got '${argv[i]}'`);
      o[key] = v;
    } else if (o.dir === null) o.dir = a;
    else throw new Error(`unexpected argument '${a}'`);
  }
  if (o.dir === null)
    throw new Error('usage: make-leaves-like.mjs DIR [--train N] [--test N] [--classes N] [--size PX] [--workers N] [--seed N] [--quality Q]');
  if (o.classes < 1 || o.train < o.classes || o.size < 8 || o.workers < 1 || o.quality < 1 || o.quality > 100)
    throw new Error('need --classes ≥ 1, --train ≥ --classes, --size ≥ 8, --workers ≥ 1, --quality in 1..100');
  return o;
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`make-leaves-like: ${e.message}`);
    process.exit(2);
  }
  const started = performance.now();
  const classes = makeClasses(o.seed, o.classes);
  const labels = makeLabels(o.seed, o.classes, o.train, o.test);
  mkdirSync(join(o.dir, 'images'), { recursive: true });
  const total = o.train + o.test;
  // Chunks of up to 64 images, at least 4 per worker (small sets use every worker too).
  const chunk = Math.max(1, Math.min(64, Math.ceil(total / (o.workers * 4))));
  let next = 0;
  let done = 0;
  let bytes = 0;
  let lastLog = started;
  await Promise.all(
    Array.from({ length: Math.min(o.workers, Math.ceil(total / chunk)) }, () => {
      const w = new Worker(new URL(import.meta.url), { workerData: { ...o, classes, labels } });
      return new Promise((resolve, reject) => {
        const feed = () => {
          if (next >= total) return void w.postMessage(null);
          w.postMessage([next, Math.min(total, next + chunk)]);
          next += chunk;
        };
        w.on('message', (m) => {
          done += m.images;
          bytes += m.bytes;
          const now = performance.now();
          if (now - lastLog > 5000) {
            lastLog = now;
            console.log(`make-leaves-like: ${done}/${total} images, ${((done * 1000) / (now - started)).toFixed(0)}/s`);
          }
          feed();
        });
        w.on('error', reject);
        w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`a worker exited with code ${code}`))));
        feed();
      });
    }),
  );
  const names = classes.map((c) => c.name);
  const rows = (from, to, withLabel) => Array.from({ length: to - from }, (_, k) => `images/${from + k}.jpg${withLabel ? `,${names[labels[from + k]]}` : ''}`);
  writeFileSync(join(o.dir, 'train.csv'), `image,label\n${rows(0, o.train, true).join('\n')}\n`);
  writeFileSync(join(o.dir, 'test.csv'), `image\n${rows(o.train, total, false).join('\n')}\n`);
  writeFileSync(join(o.dir, 'test_labels.csv'), `image,label\n${rows(o.train, total, true).join('\n')}\n`);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    JSON.stringify({
      dataset: o.dir,
      train: o.train,
      test: o.test,
      classes: o.classes,
      size: o.size,
      workers: o.workers,
      seconds: Number(seconds.toFixed(2)),
      imagesPerSecond: Math.round(total / seconds),
      megabytes: Number((bytes / 2 ** 20).toFixed(1)),
    }),
  );
}

async function worker() {
  // sharp alone (no tensor, no addon); one libvips thread per worker, the workers being the parallelism.
  let sharp;
  try {
    sharp = (await import('sharp')).default;
  } catch (e) {
    throw new Error(`make-leaves-like: sharp is needed (npm ci, or the GPU carry's node_modules): ${e.message}`);
  }
  sharp.concurrency(1);
  const { seed, classes, labels, size, quality, dir } = workerData;
  let queue = Promise.resolve();
  parentPort.on('message', (range) => {
    queue = queue.then(async () => {
      if (range === null) return void parentPort.close();
      let bytes = 0;
      for (let i = range[0]; i < range[1]; i++) {
        const pixels = render(seed, i, classes[labels[i]], size);
        const jpeg = await sharp(pixels, { raw: { width: size, height: size, channels: 3 } })
          .jpeg({ quality, chromaSubsampling: '4:2:0' })
          .toBuffer();
        writeFileSync(join(dir, 'images', `${i}.jpg`), jpeg);
        bytes += jpeg.length;
      }
      parentPort.postMessage({ images: range[1] - range[0], bytes });
    });
  });
}

if (isMainThread) await main();
else await worker();
