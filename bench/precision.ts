// bench/precision: lsr's training speed in bf16 (autocast + channels_last, the head in float32) against
// fp32 on this CPU, both in one run: the evidence `--precision auto` decides on. The cases are the
// demo's (resnet20 on 28² greyscale, batch 128, 10 classes) and the seed's (resnet50 224², batch 16,
// 176 classes). Prints img/s and the bf16/fp32 ratio; auto picks bf16 where the CPU computes it
// natively (see resolvePrecision), and this bench says whether that rule holds here.
//   node dist/bench/precision.js [--threads N] [--steps S] [--rounds R]
import {
  type ResolvedPrecision,
  availableCores,
  configureRuntime,
  cpuFeatures,
  crossEntropy,
  manualSeed,
  models,
  optim,
  randint,
  randn,
  resolvePrecision,
  tidy,
  training,
} from '../src/index.js';
import { emitRows, flag, median } from './common.js';

const threads = flag('threads', Math.min(2, availableCores()));
const steps = flag('steps', 5);
const rounds = flag('rounds', 2);
const warmup = 2;
configureRuntime({ threads });

interface Case {
  name: string;
  build: () => InstanceType<typeof models.CifarResNet> | InstanceType<typeof models.ResNet>;
  shape: [number, number, number, number];
  classes: number;
}
const cases: Case[] = [
  { name: 'resnet20 28² b128 (the demo)', build: () => new models.CifarResNet(20, { numClasses: 10, inChannels: 1 }), shape: [128, 1, 28, 28], classes: 10 },
  { name: 'resnet50 224² b16', build: () => models.resnet50({ numClasses: 176 }), shape: [16, 3, 224, 224], classes: 176 },
];

function trainRate(c: Case, precision: ResolvedPrecision): number {
  manualSeed(0);
  const model = c.build();
  if (precision === 'bf16') model.to('channels_last');
  const sgd = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  const x = randn(c.shape);
  const y = randint(0, c.classes, [c.shape[0]]);
  model.train();
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    sgd.zeroGrad();
    tidy(() => crossEntropy(training.logitsIn(precision, model, x), y, { labelSmoothing: 0.1 }).backward());
    sgd.step();
    times.push(performance.now() - t0);
  }
  for (const t of [x, y]) t.dispose();
  sgd.dispose();
  model.dispose();
  return c.shape[0] / (median(times.slice(warmup)) / 1000);
}

const features = cpuFeatures();
console.log(
  `bench/precision: ${features.model}; flags ${features.bf16Flags.join(', ') || 'no bf16 flags'}; ${threads} threads, median of ${steps} steps after ${warmup}, ${rounds} round(s)`,
);
const rates: Record<string, { fp32: number[]; bf16: number[] }> = {};
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    const e = (rates[c.name] ??= { fp32: [], bf16: [] });
    e.fp32.push(trainRate(c, 'fp32'));
    e.bf16.push(trainRate(c, 'bf16'));
  }
}
const auto = resolvePrecision('auto');
console.log(`\n${'case'.padEnd(30)} ${'fp32 img/s'.padStart(11)} ${'bf16 img/s'.padStart(11)} ${'bf16/fp32'.padStart(10)}`);
const rows = cases.map((c) => {
  const fp32 = median(rates[c.name]!.fp32);
  const bf16 = median(rates[c.name]!.bf16);
  console.log(`${c.name.padEnd(30)} ${fp32.toFixed(1).padStart(11)} ${bf16.toFixed(1).padStart(11)} ${(bf16 / fp32).toFixed(2).padStart(10)}`);
  return { c, fp32, bf16 };
});
console.log(`\n--precision auto here: ${auto.precision} (${auto.reason})`);
emitRows(
  rows.map(({ c, fp32, bf16 }) => ({
    bench: 'precision',
    measure: `${c.name} train img/s, lsr bf16 vs lsr fp32 (auto: ${auto.precision})`,
    lsr: bf16.toFixed(1),
    pytorch: fp32.toFixed(1),
    ratio: bf16 / fp32,
    target: 'printed',
    met: true,
  })),
);
