// bench/data: decode + RandomResizedCrop(224) + flip + normalise + batch throughput of lsr's loader
// with 1 and 2 workers on 224×224 JPEGs, next to resnet50's training consumption (img/s, batch 16)
// and torchvision's ImageFolder + DataLoader with the same transforms, in one run.
// Targets: the loader ≥ 2× the training consumption, and not slower than torchvision.
//   node dist/bench/data.js [--images N]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { configureRuntime, crossEntropy, data, manualSeed, models, optim, randint, randn, tidy } from '../src/index.js';
import { emitRows, flag, median, runPython } from './common.js';

const images = flag('images', 512);
const threads = 2;
configureRuntime({ threads });
manualSeed(0);

async function writeJpegs(root: string): Promise<void> {
  for (let i = 0; i < images; i++) {
    const dir = join(root, `class${i % 8}`);
    mkdirSync(dir, { recursive: true });
    const px = Buffer.alloc(224 * 224 * 3);
    for (let k = 0; k < px.length; k++) px[k] = ((k % 672) * 3 + Math.floor(k / 672) * 5 + i * 11 + ((k * 2654435761) >>> 28)) & 255;
    await sharp(px, { raw: { width: 224, height: 224, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(join(dir, `${i}.jpg`));
  }
}

async function loaderRate(ds: data.SampleList, workers: number): Promise<number> {
  const loader = new data.DataLoader(ds, { batchSize: 32, pipeline: data.trainPipeline(224), shuffle: true, seed: 0, workers });
  let rate = 0;
  for (let epoch = 0; epoch < 2; epoch++) {
    const t0 = performance.now();
    let n = 0;
    for await (const b of loader.epoch(epoch)) {
      n += b.x.shape[0]!;
      b.dispose();
    }
    rate = n / ((performance.now() - t0) / 1000);
  }
  await loader.close();
  return rate;
}

function trainingRate(): number {
  const model = models.resnet50({ numClasses: 8 });
  const sgd = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = randn([16, 3, 224, 224]);
  const y = randint(0, 8, [16]);
  const times: number[] = [];
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    sgd.zeroGrad();
    tidy(() => crossEntropy(model.forward(x), y, { labelSmoothing: 0.1 }).backward());
    sgd.step();
    times.push(performance.now() - t0);
  }
  model.dispose();
  return 16 / (median(times.slice(1)) / 1000);
}

const root = mkdtempSync(join(tmpdir(), 'lsr-bench-data-'));
try {
  console.log(`bench/data: ${images} JPEGs of 224×224, RandomResizedCrop(224) + flip + normalise, batch 32`);
  await writeJpegs(root);
  const ds = data.readImageFolder(root);
  const lsr1 = await loaderRate(ds, 1);
  const lsr2 = await loaderRate(ds, 2);
  const train = trainingRate();
  const py = runPython<{ torch: string; imgPerSec: Record<string, number> }>('data.py', ['--root', root, '--workers', '1,2']);
  const row = (name: string, v: number) => console.log(`  ${name.padEnd(40)} ${v.toFixed(1).padStart(8)} img/s`);
  row('lsr loader, 1 worker', lsr1);
  row('lsr loader, 2 workers', lsr2);
  row(`torchvision DataLoader, 1 worker`, py.imgPerSec['1']!);
  row(`torchvision DataLoader, 2 workers`, py.imgPerSec['2']!);
  row('resnet50 training (fp32, batch 16)', train);
  console.log(
    `\nloader / training consumption: ${(lsr1 / train).toFixed(1)}× (1 worker), ${(lsr2 / train).toFixed(1)}× (2 workers) (target ≥ 2: ${Math.min(lsr1, lsr2) / train >= 2 ? 'met' : 'NOT met'})`,
  );
  const r1 = lsr1 / py.imgPerSec['1']!;
  const r2 = lsr2 / py.imgPerSec['2']!;
  console.log(
    `lsr / torchvision: ${r1.toFixed(2)} (1 worker), ${r2.toFixed(2)} (2 workers) (target ≥ 1: ${Math.min(r1, r2) >= 1 ? 'met' : 'NOT met'}); PyTorch ${py.torch}`,
  );
  emitRows([
    {
      bench: 'data',
      measure: 'loader img/s, 1 worker, vs torchvision',
      lsr: lsr1.toFixed(0),
      pytorch: py.imgPerSec['1']!.toFixed(0),
      ratio: r1,
      target: '≥ 1',
      met: r1 >= 1,
    },
    {
      bench: 'data',
      measure: 'loader img/s, 2 workers, vs torchvision',
      lsr: lsr2.toFixed(0),
      pytorch: py.imgPerSec['2']!.toFixed(0),
      ratio: r2,
      target: '≥ 1',
      met: r2 >= 1,
    },
    {
      bench: 'data',
      measure: "loader (1 worker) vs resnet50's training consumption, img/s",
      lsr: lsr1.toFixed(0),
      pytorch: train.toFixed(1),
      ratio: lsr1 / train,
      target: '≥ 2',
      met: lsr1 / train >= 2,
    },
  ]);
} finally {
  rmSync(root, { recursive: true, force: true });
}
