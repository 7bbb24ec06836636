// bench/loss: label-smoothed cross-entropy, forward + backward, float32, in one run:
//   fused   lsr's crossEntropy (one native pass per row, backward writes softmax − target)
//   native  libtorch's cross_entropy_loss(label_smoothing) through the addon (PyTorch's own kernel)
//   LSR     the seed's LSR written with ops;  LSR2  the seed's LSR2 written with ops
//   python  PyTorch's F.cross_entropy from Python (bench/loss.py), same threads
// Peak extra memory is the rise of the process's peak RSS over its RSS before the step (the
// input's gradient, an N×C tensor, included), with glibc told to mmap every large block so that
// freed memory leaves RSS (LSR_MALLOC=system: lsr's default keeps freed memory for reuse).
// Targets: fused ≥ 3× faster than native at C = 32000 and never slower at the small sizes;
// fused peak extra memory at most one N×C tensor besides the gradient itself.
//   node dist/bench/loss.js [--threads N] [--reps R]
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { F, LSR, LSR2, type Tensor, availableCores, configureRuntime, crossEntropy, manualSeed, randint, randn, tidy } from '../src/index.js';
import { type BenchRow, emitRows, flag, median, runPython } from './common.js';

// Large blocks must come from mmap (and go back on free) for peak RSS to measure them.
if (process.env.MALLOC_MMAP_THRESHOLD_ === undefined) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    // glibc's own policy (not lsr's keep-for-reuse), so that freed memory leaves RSS.
    env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '65536', LSR_MALLOC: 'system' },
  });
  process.exit(r.status ?? 1);
}

const threads = flag('threads', Math.min(2, availableCores()));
const reps = flag('reps', 5);
const sizes: Array<[number, number]> = [
  [256, 176],
  [4096, 1000],
  [4096, 32000],
];
configureRuntime({ threads });
manualSeed(0);

const eps = 0.1;
const lsr = new LSR(eps);
const lsr2 = new LSR2(eps);
const variants: Record<string, (x: Tensor, y: Tensor) => Tensor> = {
  fused: (x, y) => crossEntropy(x, y, { labelSmoothing: eps }),
  native: (x, y) => F.crossEntropy(x, y, { labelSmoothing: eps }),
  LSR: (x, y) => lsr.forward(x, y),
  LSR2: (x, y) => lsr2.forward(x, y),
};

const kib = (field: string) =>
  Number(
    /(\d+) kB/.exec(
      readFileSync('/proc/self/status', 'utf8')
        .split('\n')
        .find((l) => l.startsWith(field))!,
    )![1],
  ) * 1024;

/** One forward + backward: [ms, peak extra bytes]. */
function step(f: (x: Tensor, y: Tensor) => Tensor, x: Tensor, y: Tensor): [number, number] {
  writeFileSync('/proc/self/clear_refs', '5'); // resets the peak RSS to the current RSS
  const before = kib('VmRSS:');
  const t0 = performance.now();
  tidy(() => f(x, y).backward());
  const ms = performance.now() - t0;
  const peak = kib('VmHWM:') - before;
  x.grad = undefined;
  return [ms, peak];
}

const py = runPython<{ torch: string; ms: Record<string, number> }>('loss.py', [
  '--threads',
  String(threads),
  '--sizes',
  sizes.map(([n, c]) => `${n}x${c}`).join(','),
  '--reps',
  String(reps),
]);

console.log(`bench/loss: label-smoothed cross-entropy (ε = ${eps}), forward + backward, float32, ${threads} threads, median of ${reps}`);
console.log(`(peak extra memory in units of one N×C float32 tensor; the input's gradient is one of them)\n`);
const names = Object.keys(variants);
const rows: BenchRow[] = [];
console.log(
  [
    'N × C'.padEnd(13),
    ...names.map((n) => `${n} ms`.padStart(10)),
    'python ms'.padStart(10),
    ...names.map((n) => `${n} mem`.padStart(9)),
    '  native/fused  python/fused',
  ].join(' '),
);
for (const [n, c] of sizes) {
  const x = randn([n, c]).requiresGrad_();
  const y = randint(0, c, [n]);
  const ms: Record<string, number> = {};
  const mem: Record<string, number> = {};
  for (const name of names) step(variants[name]!, x, y); // warm-up
  const times: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  const peaks: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < reps; r++)
    for (const name of names) {
      const [t, p] = step(variants[name]!, x, y);
      times[name]!.push(t);
      peaks[name]!.push(p);
    }
  for (const name of names) {
    ms[name] = median(times[name]!);
    mem[name] = median(peaks[name]!) / (n * c * 4);
  }
  const pyMs = py.ms[`${n}x${c}`]!;
  console.log(
    [
      `${n} × ${c}`.padEnd(13),
      ...names.map((k) => ms[k]!.toFixed(2).padStart(10)),
      pyMs.toFixed(2).padStart(10),
      ...names.map((k) => mem[k]!.toFixed(2).padStart(9)),
      `${(ms.native! / ms.fused!).toFixed(2)}×`.padStart(14),
      `${(pyMs / ms.fused!).toFixed(2)}×`.padStart(13),
    ].join(' '),
  );
  const small = c < 32000;
  const speedup = ms.native! / ms.fused!;
  rows.push({
    bench: 'loss',
    measure: `label-smoothed CE fwd+bwd ${n}×${c} (ms; PyTorch = libtorch's native CE)`,
    lsr: ms.fused!.toFixed(2),
    pytorch: ms.native!.toFixed(2),
    ratio: speedup,
    target: small ? '≥ 1×' : '≥ 3×',
    met: speedup >= (small ? 1 : 3),
  });
  rows.push({
    bench: 'loss',
    measure: `peak extra memory ${n}×${c} (N×C tensors, the gradient included)`,
    lsr: mem.fused!.toFixed(2),
    pytorch: mem.native!.toFixed(2),
    ratio: mem.fused! / mem.native!,
    target: 'lsr ≤ 2',
    met: mem.fused! <= 2,
  });
  x.dispose();
  y.dispose();
}
emitRows(rows);
console.log(`\nPyTorch ${py.torch}. Targets: native/fused ≥ 3 at C = 32000, ≥ 1 at the small sizes; fused memory ≤ 2 (gradient + at most one more).`);
