#!/usr/bin/env node
// The loader's rate on a classify-leaves folder, as lsr train feeds a GPU: decode +
// RandomResizedCrop(224) + flip into uint8 batches of 256 with W worker threads (issue 16, item 4:
// next to the GPU's training rate, it says whether the GPU waits for images).
//   node scripts/gpu/loader-rate.mjs DIR [--workers W] [--batches N] [--size PX] [--batch-size B]
import { join } from 'node:path';
import { cuda, data } from '../../dist/src/index.js';

const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/gpu/loader-rate.mjs DIR [--workers W] [--batches N] [--size PX]');
  process.exit(2);
}
const workers = arg('workers', 16);
// Measured after a warm-up wave (one batch from each worker: threads started, sharp and the addon
// imported, the CUDA context made, the page cache warm), then over at least `batches` more or to the
// epoch's end; the clock stops at the last batch received, before the loader is closed.
const batches = arg('batches', 48);
const size = arg('size', 224);
const batchSize = arg('batch-size', 256);
const { dataset } = data.readImageCsv(join(dir, 'train.csv'), { labeled: true });
const loader = new data.DataLoader(dataset, {
  batchSize,
  pipeline: data.trainPipeline(size),
  shuffle: true,
  seed: 0,
  workers,
  pixels: 'uint8',
  pinMemory: cuda.isAvailable(),
});
const t0 = performance.now();
let warm = null;
let n = 0;
let k = 0;
let last = t0;
for await (const b of loader.epoch(0)) {
  k++;
  if (warm === null) {
    if (k >= Math.max(1, workers)) warm = performance.now();
  } else {
    n += b.x.shape[0];
    last = performance.now();
  }
  b.dispose();
  if (warm !== null && k - Math.max(1, workers) >= batches) break;
}
await loader.close();
if (warm === null || n === 0) {
  console.error(`loader-rate: the data set holds too few batches of ${batchSize} for a warm-up wave of ${workers} and a measurement (${k} batches)`);
  process.exit(1);
}
const seconds = (last - warm) / 1000;
console.log(
  JSON.stringify({
    loader: 'lsr',
    workers,
    batchSize,
    size,
    pinned: cuda.isAvailable(),
    warmUpSeconds: Number(((warm - t0) / 1000).toFixed(2)),
    images: n,
    seconds: Number(seconds.toFixed(2)),
    imagesPerSecond: Math.round(n / seconds),
  }),
);
