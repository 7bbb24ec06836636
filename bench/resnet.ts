// bench/resnet: torchvision ResNets trained and evaluated from TypeScript (lsr) and from Python
// PyTorch on the same libtorch, same threads, in one run: images/s and the lsr/PyTorch ratios.
// lsr runs in --precision (default auto: bf16 autocast + channels_last where the CPU has bf16);
// PyTorch runs in its fp32 default and, when lsr runs bf16, also with the same bf16 settings
// (lsr keeps the classifier head in float32, PyTorch's autocast runs it in bf16: for resnet50 that
// head is under 0.1% of the FLOPs).
// Targets: fp32 ≥ 0.95× PyTorch fp32; auto (bf16) ≥ 1.8× PyTorch fp32 on resnet50 and ≥ 0.95×
// PyTorch with the same settings.
//   node dist/bench/resnet.js [--precision auto|fp32|bf16] [--threads N] [--steps S] [--rounds R]
import {
  type Precision,
  availableCores,
  clearAutocastCache,
  configureRuntime,
  crossEntropy,
  inferenceMode,
  manualSeed,
  models,
  optim,
  randint,
  randn,
  resolvePrecision,
  tidy,
  training,
} from '../src/index.js';
import { emitRows, flag, median, runPython } from './common.js';

const threads = flag('threads', Math.min(2, availableCores()));
const steps = flag('steps', 5);
const rounds = flag('rounds', 1);
const warmup = 2;
const precisionArg = (process.argv[process.argv.indexOf('--precision') + 1] ?? 'auto') as Precision;
const { precision } = resolvePrecision(process.argv.includes('--precision') ? precisionArg : 'auto');
const cases: Array<[keyof typeof builders, number, number]> = [
  ['resnet50', 224, 16],
  ['resnet18', 64, 64],
];
const builders = { resnet50: models.resnet50, resnet18: models.resnet18 };
configureRuntime({ threads });
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
  if (precision === 'bf16') model.to('channels_last');
  const x = randn([batch, 3, size, size]);
  const y = randint(0, 176, [batch]);
  // What lsr train runs: in bf16 the features under autocast, the head in float32.
  const forward = (keepCache = false) => training.logitsIn(precision, model, x, { keepCache });
  model.train();
  const train =
    batch /
    timeSteps(() => {
      sgd.zeroGrad();
      tidy(() => crossEntropy(forward(), y, { labelSmoothing: 0.1 }).backward());
      sgd.step();
    });
  model.eval();
  const evaluation = batch / timeSteps(() => tidy(() => inferenceMode(() => forward(true))));
  clearAutocastCache();
  for (const t of [x, y]) t.dispose();
  sgd.dispose();
  model.dispose();
  return { train, eval: evaluation };
}

console.log(
  `bench/resnet: lsr in ${precision}${precision === 'bf16' ? ' (autocast, channels_last)' : ''}, ${threads} threads, median of ${steps} steps after ${warmup}, ${rounds} round(s), 176 classes`,
);
type Rates = { train: number; eval: number };
const key = (c: (typeof cases)[number]) => c.join(':');
const ts: Record<string, Rates[]> = {};
const pyFp32: Record<string, Rates[]> = {};
const pyBf16: Record<string, Rates[]> = {};
let torchVersion = '';
const python = (bf16: boolean) =>
  runPython<{ torch: string; results: Record<string, Rates> }>('resnet.py', [
    '--threads',
    String(threads),
    '--cases',
    cases.map(key).join(','),
    '--steps',
    String(steps),
    '--warmup',
    String(warmup),
    ...(bf16 ? ['--bf16'] : []),
  ]);
for (let r = 0; r < rounds; r++) {
  for (const c of cases) (ts[key(c)] ??= []).push(measure(...c));
  const p = python(false);
  torchVersion = p.torch;
  for (const c of cases) (pyFp32[key(c)] ??= []).push(p.results[key(c)]!);
  if (precision === 'bf16') {
    const q = python(true);
    for (const c of cases) (pyBf16[key(c)] ??= []).push(q.results[key(c)]!);
  }
}
const bf16 = precision === 'bf16';
console.log(
  `\n${'case'.padEnd(26)} ${'mode'.padEnd(6)} ${`lsr ${precision}`.padStart(10)} ${'PyTorch fp32'.padStart(13)} ${'ratio'.padStart(6)}${bf16 ? ` ${'PyTorch bf16'.padStart(13)} ${'ratio'.padStart(6)}` : ''}   (img/s)`,
);
const ratios: Array<{ c: string; mode: string; fp32: number; same: number; a: number; b: number; d: number }> = [];
for (const c of cases) {
  for (const mode of ['train', 'eval'] as const) {
    const a = median(ts[key(c)]!.map((v) => v[mode]));
    const b = median(pyFp32[key(c)]!.map((v) => v[mode]));
    const d = bf16 ? median(pyBf16[key(c)]!.map((v) => v[mode])) : b;
    ratios.push({ c: `${c[0]} ${c[1]}² b${c[2]}`, mode, fp32: a / b, same: a / d, a, b, d });
    console.log(
      `${`${c[0]} ${c[1]}×${c[1]} batch ${c[2]}`.padEnd(26)} ${mode.padEnd(6)} ${a.toFixed(1).padStart(10)} ${b.toFixed(1).padStart(13)} ${(a / b).toFixed(3).padStart(6)}` +
        (bf16 ? ` ${d.toFixed(1).padStart(13)} ${(a / d).toFixed(3).padStart(6)}` : ''),
    );
  }
}
const worstSame = Math.min(...ratios.map((r) => r.same));
console.log(
  `\nPyTorch ${torchVersion}. Lowest ratio against PyTorch in the same precision: ${worstSame.toFixed(3)} (target ≥ 0.95: ${worstSame >= 0.95 ? 'met' : 'NOT met'})`,
);
if (bf16) {
  const r50 = Math.min(...ratios.filter((r) => r.c.startsWith('resnet50')).map((r) => r.fp32));
  console.log(`resnet50 in bf16 against PyTorch's fp32 default: ${r50.toFixed(2)}× (target ≥ 1.8: ${r50 >= 1.8 ? 'met' : 'NOT met'})`);
}
emitRows([
  ...ratios.map((r) => ({
    bench: 'resnet',
    measure: `${r.c} ${r.mode} img/s, both ${precision}`,
    lsr: r.a.toFixed(1),
    pytorch: r.d.toFixed(1),
    ratio: r.same,
    target: '≥ 0.95',
    met: r.same >= 0.95,
  })),
  ...(bf16
    ? ratios
        .filter((r) => r.c.startsWith('resnet50'))
        .map((r) => ({
          bench: 'resnet',
          measure: `${r.c} ${r.mode} img/s, lsr bf16 vs PyTorch's fp32 default`,
          lsr: r.a.toFixed(1),
          pytorch: r.b.toFixed(1),
          ratio: r.fp32,
          target: '≥ 1.8',
          met: r.fp32 >= 1.8,
        }))
    : []),
]);
