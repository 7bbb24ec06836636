// bench/leak: 20,000 training steps of the small CNN (forward, backward, SGD update), RSS sampled
// every 1,000 steps. Target: RSS growth after step 2,000 under 5%.
//   node dist/bench/leak.js [--steps N] [--batch B]
import { configureRuntime, manualSeed, memoryStats } from '../src/index.js';
import { smallCnnTrainingStep } from '../examples/small-cnn.js';
import { flag, emitRows } from './common.js';

const steps = flag('steps', 20_000);
const batch = flag('batch', 16);
const every = 1000;
manualSeed(0);
const step = smallCnnTrainingStep(batch);
const mib = (b: number) => (b / 2 ** 20).toFixed(1);

configureRuntime();
console.log(`bench/leak: ${steps} steps of the small CNN, batch ${batch}; RSS every ${every} steps`);
const samples: Array<{ step: number; rss: number }> = [];
const t0 = performance.now();
for (let s = 1; s <= steps; s++) {
  step();
  if (s % every === 0) {
    const rss = process.memoryUsage.rss();
    samples.push({ step: s, rss });
    const m = memoryStats();
    console.log(
      `  step ${String(s).padStart(6)}  RSS ${mib(rss)} MiB  live tensors ${m.liveTensors}  tensor bytes ${mib(m.bytes)} MiB  ${((s * batch) / ((performance.now() - t0) / 1000)).toFixed(0)} img/s`,
    );
  }
}
const base = samples.find((p) => p.step >= 2000) ?? samples[0]!;
const last = samples[samples.length - 1]!;
const growth = (last.rss - base.rss) / base.rss;
console.log(
  `RSS at step ${base.step}: ${mib(base.rss)} MiB; at step ${last.step}: ${mib(last.rss)} MiB; growth ${(100 * growth).toFixed(2)}%  (target < 5%: ${growth < 0.05 ? 'met' : 'NOT met'})`,
);
emitRows([
  {
    bench: 'leak',
    measure: `RSS growth from step ${base.step} to ${last.step}`,
    lsr: `${(100 * growth).toFixed(2)}%`,
    pytorch: '—',
    ratio: growth,
    target: '< 5%',
    met: growth < 0.05,
  },
]);
