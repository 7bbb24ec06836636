#!/usr/bin/env node
// The loader's rate on a classify-leaves folder, as lsr train feeds a GPU: decode +
// RandomResizedCrop(224) + flip into uint8 batches of 256 with W worker threads (issue 16, item 4:
// next to the GPU's training rate, it says whether the GPU waits for images).
//   node scripts/gpu/loader-rate.mjs DIR [--workers W] [--batches N] [--size PX]
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
// Each worker makes a whole batch: many waves of them, so that the rate is not one wave's.
const batches = arg('batches', 64);
const size = arg('size', 224);
const batchSize = arg('batch-size', 256);
const { dataset } = data.readImageCsv(join(dir, 'train.csv'), { labeled: true });
// Timed from the start, workers' start-up included, as a training epoch sees it.
const t0 = performance.now();
const loader = new data.DataLoader(dataset, {
  batchSize,
  pipeline: data.trainPipeline(size),
  shuffle: true,
  seed: 0,
  workers,
  pixels: 'uint8',
  pinMemory: cuda.isAvailable(),
});
let n = 0;
let k = 0;
for await (const b of loader.epoch(0)) {
  n += b.x.shape[0];
  b.dispose();
  if (++k >= batches) break;
}
await loader.close();
const rate = n / ((performance.now() - t0) / 1000);
console.log(JSON.stringify({ loader: 'lsr', workers, batchSize, size, pinned: cuda.isAvailable(), images: n, imagesPerSecond: Math.round(rate) }));
