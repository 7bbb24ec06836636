// bench/overhead: the same small-CNN training step from TypeScript (lsr) and from Python PyTorch,
// same threads, in one run. Target: TS/Python time ratio ≤ 1.05.
//   node dist/bench/overhead.js [--threads N] [--batch B] [--steps S] [--rounds R]
import { availableCores, configureRuntime, manualSeed } from '../src/index.js';
import { smallCnnTrainingStep } from '../examples/small-cnn.js';
import { LSR_MALLOC_ENV, emitRows, flag, median, runPython } from './common.js';

const threads = flag('threads', availableCores());
const batch = flag('batch', 32);
const steps = flag('steps', 200);
const rounds = flag('rounds', 3);
const warmup = 20;
configureRuntime({ threads });
manualSeed(0);

const step = smallCnnTrainingStep(batch);
/** The median step time: robust to the other core's noise on a small machine. */
function timeTs(): number {
  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  return median(times);
}

console.log(`bench/overhead: small CNN training step, batch ${batch}, ${threads} threads, median of ${steps} steps, ${rounds} rounds (interleaved)`);
const ts: number[] = [];
const py: number[] = [];
let torchVersion = '';
for (let r = 0; r < rounds; r++) {
  ts.push(timeTs());
  // Python gets lsr's malloc policy too: this bench isolates the cost of the binding.
  const p = runPython<{ msPerStep: number; torch: string }>(
    'overhead.py',
    ['--threads', String(threads), '--batch', String(batch), '--steps', String(steps)],
    LSR_MALLOC_ENV,
  );
  py.push(p.msPerStep);
  torchVersion = p.torch;
  console.log(`  round ${r + 1}: lsr ${ts[r]!.toFixed(3)} ms/step   PyTorch ${p.msPerStep.toFixed(3)} ms/step`);
}
const ratio = median(ts) / median(py);
console.log(`lsr (TypeScript)  ${median(ts).toFixed(3)} ms/step`);
console.log(`PyTorch ${torchVersion} (Python)  ${median(py).toFixed(3)} ms/step`);
console.log(`ratio TS/Python = ${ratio.toFixed(3)}  (target ≤ 1.05: ${ratio <= 1.05 ? 'met' : 'NOT met'})`);
emitRows([
  {
    bench: 'overhead',
    measure: `small-CNN training step, batch ${batch} (ms, lower is better)`,
    lsr: median(ts).toFixed(3),
    pytorch: median(py).toFixed(3),
    ratio,
    target: '≤ 1.05',
    met: ratio <= 1.05,
  },
]);
