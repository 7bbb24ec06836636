// bench/ddp: data-parallel training throughput on one machine: 1 process and N processes of 1
// thread each (resnet18, 64×64, a fixed batch per process: weak scaling), lsr (c10d Gloo, bucketed
// all-reduce after backward) against PyTorch's DistributedDataParallel in the same run, and the
// scaling efficiency of each: (N-process images/s) / (N × 1-process images/s).
//   node dist/bench/ddp.js [--nproc 2] [--batch 32] [--size 64] [--steps 8]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { configureRuntime, crossEntropy, manualSeed, models, optim, randint, randn, tidy } from '../src/index.js';
import { DistributedDataParallel, contextFromEnv, freePort, joinGroup, leaveGroup } from '../src/distributed/index.js';
import { benchSrc, emitRows, ensurePythonTorch, flag, median } from './common.js';
import { join } from 'node:path';

const nproc = flag('nproc', 2);
const batch = flag('batch', 32);
const size = flag('size', 64);
const steps = flag('steps', 8);

/** One rank (or a plain process): median step time over `steps` after 2 warm-up steps. */
function worker(): void {
  const ctx = contextFromEnv();
  configureRuntime({ threads: 1 });
  manualSeed(0);
  joinGroup(ctx);
  const model = models.resnet18({ numClasses: 176 });
  const ddp = ctx ? new DistributedDataParallel(model, { syncBatchNorm: false }) : null;
  const sgd = new optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
  const x = randn([batch, 3, size, size]);
  const y = randint(0, 176, [batch]);
  model.train();
  const times: number[] = [];
  for (let i = 0; i < 2 + steps; i++) {
    const t0 = performance.now();
    sgd.zeroGrad();
    ddp?.beforeForward();
    tidy(() => crossEntropy(model.forward(x), y, { labelSmoothing: 0.1 }).backward());
    ddp?.averageGradients();
    sgd.step();
    times.push(performance.now() - t0);
  }
  const world = ctx?.worldSize ?? 1;
  leaveGroup(ctx);
  if ((ctx?.rank ?? 0) === 0) console.log(JSON.stringify({ imagesPerSecond: (batch * world) / (median(times.slice(2)) / 1000) }));
}

/** Runs `argv` as `n` ranks (n = 1: a plain process) and returns rank 0's images/s. */
async function ranks(argv: string[], n: number): Promise<number> {
  const port = await freePort();
  const outputs = await Promise.all(
    Array.from(
      { length: n },
      (_, r) =>
        new Promise<string>((resolve, reject) => {
          const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: '1', LSR_DDP_BENCH_WORKER: '1' };
          if (n > 1)
            Object.assign(env, {
              RANK: String(r),
              WORLD_SIZE: String(n),
              LOCAL_RANK: String(r),
              LOCAL_WORLD_SIZE: String(n),
              MASTER_ADDR: '127.0.0.1',
              MASTER_PORT: String(port),
            });
          const p = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          p.stdout.on('data', (d: Buffer) => (out += d.toString()));
          p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} (rank ${r} of ${n}) exited with ${code}`))));
        }),
    ),
  );
  return (JSON.parse(outputs[0]!.trim().split('\n').pop()!) as { imagesPerSecond: number }).imagesPerSecond;
}

async function main(): Promise<void> {
  const self = [process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)];
  const py = [ensurePythonTorch(['torchvision']), join(benchSrc, 'ddp.py'), String(size), String(batch), String(steps)];
  console.log(`bench/ddp: resnet18 ${size}×${size}, batch ${batch} per process, 1 thread per process, ${steps} timed steps`);
  const r = { lsr1: await ranks(self, 1), lsrN: await ranks(self, nproc), py1: await ranks(py, 1), pyN: await ranks(py, nproc) };
  const eff = (one: number, many: number) => many / (nproc * one);
  console.log(`            | 1 process | ${nproc} processes | scaling efficiency`);
  console.log(`lsr         | ${r.lsr1.toFixed(1).padStart(9)} | ${r.lsrN.toFixed(1).padStart(11)} | ${(eff(r.lsr1, r.lsrN) * 100).toFixed(1)}%`);
  console.log(`PyTorch DDP | ${r.py1.toFixed(1).padStart(9)} | ${r.pyN.toFixed(1).padStart(11)} | ${(eff(r.py1, r.pyN) * 100).toFixed(1)}%`);
  console.log(`lsr / PyTorch with ${nproc} processes: ${(r.lsrN / r.pyN).toFixed(3)} (images/s)`);
  emitRows([
    {
      bench: 'ddp',
      measure: `resnet18 ${size}² train, ${nproc} processes × 1 thread, img/s`,
      lsr: r.lsrN.toFixed(1),
      pytorch: r.pyN.toFixed(1),
      ratio: r.lsrN / r.pyN,
      target: '≥ 0.95',
      met: r.lsrN / r.pyN >= 0.95,
    },
    {
      bench: 'ddp',
      measure: `scaling efficiency 1 → ${nproc} processes (lsr ${(eff(r.lsr1, r.lsrN) * 100).toFixed(1)}%, PyTorch ${(eff(r.py1, r.pyN) * 100).toFixed(1)}%)`,
      lsr: `${(eff(r.lsr1, r.lsrN) * 100).toFixed(1)}%`,
      pytorch: `${(eff(r.py1, r.pyN) * 100).toFixed(1)}%`,
      ratio: eff(r.lsr1, r.lsrN) / eff(r.py1, r.pyN),
      target: 'printed',
      met: true,
    },
  ]);
}

if (process.env.LSR_DDP_BENCH_WORKER) worker();
else await main();
