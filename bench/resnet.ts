// bench/resnet: torchvision ResNets trained and evaluated from TypeScript (lsr) and from Python
// PyTorch on the same libtorch, same threads, in one run: images/s and the lsr/PyTorch ratios.
// On the CPU (--device cpu, the default) lsr runs in --precision (default auto: bf16 autocast +
// channels_last where the CPU has bf16); PyTorch runs in its fp32 default and, when lsr runs bf16,
// also with the same bf16 settings (lsr keeps the classifier head in float32, PyTorch's autocast
// runs it in bf16: for resnet50 that head is under 0.1% of the FLOPs).
// On a GPU (--device cuda or cuda:N) it measures issue 16's cell, resnet50 224² batch 256, in fp32
// (cuDNN's convolutions in TF32, libtorch's and PyTorch's default) and in bf16 (autocast and
// channels_last, lsr's --precision auto on a bf16 GPU), each against PyTorch in the same precision,
// cuDNN's autotuner (cudnn.benchmark) on both sides, every step timed to the device's completion
// (cuda.synchronize).
// Targets: fp32 ≥ 0.95× PyTorch fp32; auto (bf16) ≥ 1.8× PyTorch fp32 on resnet50 (CPU) and ≥ 0.95×
// PyTorch with the same settings.
//   node dist/bench/resnet.js [--device cpu|cuda|cuda:N] [--precision auto|fp32|bf16] [--threads N]
//        [--steps S] [--rounds R] [--batch B (cuda)] [--cases resnet50:224:16,resnet18:64:64]
import {
  type Precision,
  type ResolvedPrecision,
  availableCores,
  clearAutocastCache,
  configureRuntime,
  crossEntropy,
  cuda,
  deviceIndex,
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

const deviceArg = process.argv.includes('--device') ? process.argv[process.argv.indexOf('--device') + 1] : 'cpu';
if (deviceArg === undefined || !/^(cpu|cuda(:\d+)?)$/.test(deviceArg)) {
  console.error(`bench/resnet: --device must be cpu, cuda or cuda:N, got '${deviceArg}'`);
  process.exit(2);
}
const device = deviceArg as 'cpu' | 'cuda' | `cuda:${number}`;
const gpu = device !== 'cpu';
const threads = flag('threads', Math.min(2, availableCores()));
const steps = flag('steps', gpu ? 10 : 5);
const rounds = flag('rounds', 1);
// On a GPU the first steps also run cuDNN's autotuner (one search per convolution shape).
const warmup = gpu ? 3 : 2;
const precisionArg = (process.argv[process.argv.indexOf('--precision') + 1] ?? 'auto') as Precision;
const { precision } = resolvePrecision(process.argv.includes('--precision') ? precisionArg : 'auto');
const builders = { resnet50: models.resnet50, resnet18: models.resnet18 };
const casesArg = process.argv.includes('--cases') ? process.argv[process.argv.indexOf('--cases') + 1] : undefined;
// --cases name:size:batch,...: other cells (a quick check of the bench itself).
const cases: Array<[keyof typeof builders, number, number]> = casesArg
  ? casesArg.split(',').map((c) => {
      const [name, size, batch] = c.split(':');
      if (!(name! in builders) || !(Number(size) > 0) || !(Number(batch) > 0)) throw new Error(`bench/resnet: --cases wants name:size:batch, got '${c}'`);
      return [name as keyof typeof builders, Number(size), Number(batch)];
    })
  : gpu
    ? [['resnet50', 224, flag('batch', 256)]]
    : [
        ['resnet50', 224, 16],
        ['resnet18', 64, 64],
      ];
configureRuntime({ threads });
manualSeed(0);

// cuDNN's autotuner, as lsr train turns it on for a CUDA run (and PyTorch's side, bench/resnet.py).
if (gpu) cuda.setCudnnBenchmark(true);
const sync = gpu ? () => cuda.synchronize(deviceIndex(device)) : () => {};

function timeSteps(step: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    step();
    sync();
    times.push(performance.now() - t0);
  }
  return median(times.slice(warmup)) / 1000;
}

function measure(name: keyof typeof builders, size: number, batch: number, p: ResolvedPrecision): { train: number; eval: number } {
  const model = training.placeFor(p, builders[name]({ numClasses: 176 }), device);
  const sgd = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const x = randn([batch, 3, size, size], { device });
  const y = randint(0, 176, [batch], { device });
  // What lsr train runs: in bf16 the features under autocast (channels_last input), the head in float32.
  const forward = (keepCache = false) => training.logitsIn(p, model, x, { keepCache });
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

type Rates = { train: number; eval: number };
const key = (c: (typeof cases)[number]) => c.join(':');
let torchVersion = '';
const python = (bf16: boolean) => {
  const p = runPython<{ torch: string; results: Record<string, Rates> }>('resnet.py', [
    '--threads',
    String(threads),
    '--cases',
    cases.map(key).join(','),
    '--steps',
    String(steps),
    '--warmup',
    String(warmup),
    ...(bf16 ? ['--bf16'] : []),
    ...(gpu ? ['--device', device] : []),
  ]);
  torchVersion = p.torch;
  return p;
};

if (gpu) {
  // Both precisions, each against PyTorch in the same one.
  console.log(
    `bench/resnet: ${device}, lsr and PyTorch in fp32 (TF32 convolutions) and bf16 (autocast, channels_last), median of ${steps} steps after ${warmup}, ${rounds} round(s), 176 classes, cudnn.benchmark on`,
  );
  const lsr: Record<string, Rates[]> = {};
  const py: Record<string, Rates[]> = {};
  for (let r = 0; r < rounds; r++) {
    // bf16 first (the headline), each figure printed as measured: a run cut short still tells.
    for (const p of ['bf16', 'fp32'] as const) {
      for (const c of cases) {
        const m = measure(...c, p);
        (lsr[`${key(c)}:${p}`] ??= []).push(m);
        console.log(`  lsr     ${key(c)} ${p}: train ${m.train.toFixed(1)} img/s, eval ${m.eval.toFixed(1)} img/s`);
      }
      const q = python(p === 'bf16');
      for (const c of cases) {
        const m = q.results[key(c)]!;
        (py[`${key(c)}:${p}`] ??= []).push(m);
        console.log(`  PyTorch ${key(c)} ${p}: train ${m.train.toFixed(1)} img/s, eval ${m.eval.toFixed(1)} img/s`);
      }
    }
  }
  console.log(
    `\n${'case'.padEnd(28)} ${'mode'.padEnd(6)} ${'precision'.padEnd(9)} ${'lsr'.padStart(9)} ${'PyTorch'.padStart(9)} ${'ratio'.padStart(6)}   (img/s, ${device})`,
  );
  const rows: Array<{ c: string; mode: string; p: string; a: number; b: number }> = [];
  for (const c of cases)
    for (const p of ['fp32', 'bf16'] as const)
      for (const mode of ['train', 'eval'] as const) {
        const a = median(lsr[`${key(c)}:${p}`]!.map((v) => v[mode]));
        const b = median(py[`${key(c)}:${p}`]!.map((v) => v[mode]));
        rows.push({ c: `${c[0]} ${c[1]}² b${c[2]}`, mode, p, a, b });
        console.log(
          `${`${c[0]} ${c[1]}×${c[1]} batch ${c[2]}`.padEnd(28)} ${mode.padEnd(6)} ${p.padEnd(9)} ${a.toFixed(1).padStart(9)} ${b.toFixed(1).padStart(9)} ${(a / b).toFixed(3).padStart(6)}`,
        );
      }
  const worst = Math.min(...rows.map((r) => r.a / r.b));
  console.log(
    `\nPyTorch ${torchVersion}. Lowest ratio against PyTorch in the same precision: ${worst.toFixed(3)} (target ≥ 1.0, issue 16: ${worst >= 1 ? 'met' : 'NOT met'})`,
  );
  emitRows(
    rows.map((r) => ({
      bench: 'resnet',
      measure: `${r.c} ${r.mode} img/s on ${device}, both ${r.p}`,
      lsr: r.a.toFixed(1),
      pytorch: r.b.toFixed(1),
      ratio: r.a / r.b,
      target: '≥ 1.0',
      met: r.a / r.b >= 1,
    })),
  );
} else {
  console.log(
    `bench/resnet: lsr in ${precision}${precision === 'bf16' ? ' (autocast, channels_last)' : ''}, ${threads} threads, median of ${steps} steps after ${warmup}, ${rounds} round(s), 176 classes`,
  );
  const ts: Record<string, Rates[]> = {};
  const pyFp32: Record<string, Rates[]> = {};
  const pyBf16: Record<string, Rates[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) (ts[key(c)] ??= []).push(measure(...c, precision));
    const p = python(false);
    for (const c of cases) (pyFp32[key(c)] ??= []).push(p.results[key(c)]!);
    if (precision === 'bf16') {
      const q = python(true);
      for (const c of cases) (pyBf16[key(c)] ??= []).push(q.results[key(c)]!);
    }
  }
  const bf16 = precision === 'bf16';
  console.log(
    `\n${'case'.padEnd(26)} ${'mode'.padEnd(6)} ${`lsr ${precision}`.padStart(10)} ${'PyTorch fp32'.padStart(13)} ${'ratio'.padStart(6)}${bf16 ? ` ${'PyTorch bf16'.padStart(13)} ${'ratio'.padStart(6)}` : ''}   (img/s, ${device})`,
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
  if (bf16 && ratios.some((r) => r.c.startsWith('resnet50'))) {
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
}
