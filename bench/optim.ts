// bench/optim: optimizer.step() over resnet50's parameters (161 tensors, 25.6 M values), the
// multi-tensor path (foreach, the default) against the per-parameter one, on the CPU. A measure,
// not a test: the two give the same bits (test/optim.test.ts), this says what the one call per
// group saves. The two paths alternate step by step; each round's figure is its median step.
//   node dist/bench/optim.js [--threads N] [--steps S] [--rounds R]
import { type Tensor, availableCores, configureRuntime, manualSeed, models, noGrad, optim, randnLike, tidy } from '../src/index.js';
import { flag, median } from './common.js';

const threads = flag('threads', availableCores());
const steps = flag('steps', 20);
const rounds = flag('rounds', 3);
configureRuntime({ threads });
manualSeed(0);

const model = models.resnet50({ numClasses: 1000 });
const params = model.parameters();
noGrad(() => {
  for (const p of params) p.grad = tidy(() => randnLike(p).mul(1e-3));
});

type Make = (ps: Tensor[], foreach: boolean) => optim.Optimizer<{ lr: number }>;
const optimizers: Record<string, Make> = {
  'SGD (momentum 0.9, weight decay 1e-4)': (ps, foreach) => new optim.SGD(ps, { lr: 1e-3, momentum: 0.9, weightDecay: 1e-4, foreach }),
  AdamW: (ps, foreach) => new optim.AdamW(ps, { lr: 1e-5, foreach }),
  RMSprop: (ps, foreach) => new optim.RMSprop(ps, { lr: 1e-5, foreach }),
};

/** Median step times of the two paths, timed alternately (step by step, the order swapped each time) so that the other core's load falls on both alike. */
function timePair(a: optim.Optimizer<{ lr: number }>, b: optim.Optimizer<{ lr: number }>): [number, number] {
  for (let i = 0; i < 3; i++) {
    a.step();
    b.step();
  }
  const ta: number[] = [];
  const tb: number[] = [];
  const timed = (opt: optim.Optimizer<{ lr: number }>, into: number[]) => {
    const t0 = performance.now();
    opt.step();
    into.push(performance.now() - t0);
  };
  for (let i = 0; i < steps; i++) {
    if (i % 2 === 0) {
      timed(a, ta);
      timed(b, tb);
    } else {
      timed(b, tb);
      timed(a, ta);
    }
  }
  return [median(ta), median(tb)];
}

const n = params.reduce((s, p) => s + p.numel(), 0);
console.log(`bench/optim: optimizer.step() on resnet50 (${params.length} tensors, ${(n / 1e6).toFixed(1)} M values), CPU, ${threads} threads,`);
console.log(`median of ${steps} steps per round (the two paths alternating), median of ${rounds} rounds`);
for (const [name, make] of Object.entries(optimizers)) {
  const f: number[] = [];
  const p: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = make(params, true);
    const b = make(params, false);
    const [ta, tb] = timePair(a, b);
    f.push(ta);
    p.push(tb);
    a.dispose();
    b.dispose();
  }
  console.log(
    `${name.padEnd(40)} foreach ${median(f).toFixed(2).padStart(8)} ms   per-parameter ${median(p).toFixed(2).padStart(8)} ms   (${(median(p) / median(f)).toFixed(2)}×)`,
  );
}
