// bench/resnet: torchvision ResNets trained and evaluated from TypeScript (lsr) and from Python
// PyTorch on the same libtorch, fp32, same threads, in one run: images/s and the lsr/PyTorch ratio.
// Target: ratio ≥ 0.95.
//   node dist/bench/resnet.js [--threads N] [--steps S] [--rounds R]
import { type Tensor, availableCores, crossEntropy, manualSeed, models, noGrad, optim, randint, randn, setNumThreads, tidy } from '../src/index.js';
import { flag, median, runPython } from './common.js';

const threads = flag('threads', Math.min(2, availableCores()));
const steps = flag('steps', 5);
const rounds = flag('rounds', 1);
const warmup = 2;
const cases: Array<[keyof typeof builders, number, number]> = [
  ['resnet50', 224, 16],
  ['resnet18', 64, 64],
];
const builders = { resnet50: models.resnet50, resnet18: models.resnet18 };
setNumThreads(threads);
manualSeed(0);

function timeSteps(step: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  return median(times.slice(warmup)) / 1000;
}

function measure(name: keyof typeof builders, size: number, batch: number): { train: number; eval: number } {
  const model = builders[name]({ numClasses: 176 });
  const sgd = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const x = randn([batch, 3, size, size]);
  const y = randint(0, 176, [batch]);
  model.train();
  const train = batch / timeSteps(() => {
    sgd.zeroGrad();
    tidy(() => crossEntropy(model.forward(x), y, { labelSmoothing: 0.1 }).backward());
    sgd.step();
  });
  model.eval();
  const evaluation = batch / timeSteps(() => tidy((): Tensor => noGrad(() => model.forward(x))));
  for (const t of [x, y]) t.dispose();
  sgd.dispose();
  model.dispose();
  return { train, eval: evaluation };
}

console.log(`bench/resnet: fp32, ${threads} threads, median of ${steps} steps after ${warmup}, ${rounds} round(s), 176 classes`);
const key = (c: (typeof cases)[number]) => c.join(':');
const ts: Record<string, Array<{ train: number; eval: number }>> = {};
const py: Record<string, Array<{ train: number; eval: number }>> = {};
let torchVersion = '';
for (let r = 0; r < rounds; r++) {
  for (const c of cases) (ts[key(c)] ??= []).push(measure(...c));
  const p = runPython<{ torch: string; results: Record<string, { train: number; eval: number }> }>('resnet.py', [
    '--threads', String(threads), '--cases', cases.map(key).join(','), '--steps', String(steps), '--warmup', String(warmup),
  ]);
  torchVersion = p.torch;
  for (const c of cases) (py[key(c)] ??= []).push(p.results[key(c)]!);
}
console.log(`\n${'case'.padEnd(26)} ${'mode'.padEnd(6)} ${'lsr img/s'.padStart(10)} ${'PyTorch img/s'.padStart(14)} ${'ratio'.padStart(7)}`);
let worst = Infinity;
for (const c of cases) {
  for (const mode of ['train', 'eval'] as const) {
    const a = median(ts[key(c)]!.map((v) => v[mode]));
    const b = median(py[key(c)]!.map((v) => v[mode]));
    worst = Math.min(worst, a / b);
    console.log(`${`${c[0]} ${c[1]}×${c[1]} batch ${c[2]}`.padEnd(26)} ${mode.padEnd(6)} ${a.toFixed(1).padStart(10)} ${b.toFixed(1).padStart(14)} ${(a / b).toFixed(3).padStart(7)}`);
  }
}
console.log(`\nPyTorch ${torchVersion}. Lowest ratio lsr/PyTorch = ${worst.toFixed(3)} (target ≥ 0.95: ${worst >= 0.95 ? 'met' : 'NOT met'})`);
