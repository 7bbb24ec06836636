// Data-parallel training (issue 8): shard arithmetic and option parsing in-process; then real
// runs over loopback: --nproc 2 against one process (same weights and metrics), a killed rank,
// resume with another process count, and sharded eval / predict.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import * as L from '../src/index.js';
import { data, distributed, io, training } from '../src/index.js';
import { distRoot } from './helpers.js';

const cli = join(distRoot, 'src', 'cli', 'main.js');
const lsrWith = (env: Record<string, string>, ...args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1', ...env }, timeout: 240_000 });
const lsr = (...args: string[]) => lsrWith({}, ...args);

/** A dataset of n samples: the loader's order() needs only the length. */
const fake = (n: number) =>
  ({
    length: n,
    sample: () => {
      throw new Error('not read');
    },
  }) as unknown as data.Dataset;
const pipeline: data.Pipeline = { channels: 1, mean: [0], std: [1], transforms: [] };

describe('sharded loaders (DistributedSampler)', () => {
  test('batch k of every rank together is batch k of one process with the global batch', () => {
    for (const [n, B, W] of [
      [80, 16, 2],
      [83, 12, 3],
      [100, 8, 4],
      [7, 4, 2],
    ] as const) {
      const single = new data.DataLoader(fake(n), { batchSize: B, pipeline, shuffle: true, seed: 3, dropLast: true });
      const order = single.order(2);
      const shards = Array.from(
        { length: W },
        (_, r) => new data.DataLoader(fake(n), { batchSize: B / W, pipeline, shuffle: true, seed: 3, dropLast: true, shard: { rank: r, count: W, pad: true } }),
      );
      for (const s of shards) assert.equal(s.length, single.length, `n ${n} B ${B} W ${W}: batches per rank`);
      for (let k = 0; k < single.length; k++) {
        const mine = shards.flatMap((s) => s.order(2).slice((k * B) / W, ((k + 1) * B) / W)).sort((a, b) => a - b);
        assert.deepEqual(
          mine,
          order.slice(k * B, (k + 1) * B).sort((a, b) => a - b),
          `n ${n} B ${B} W ${W} batch ${k}`,
        );
      }
    }
  });

  test('padded shards repeat the start of the order, as PyTorch pads', () => {
    const orders = [0, 1, 2].map((r) => new data.DataLoader(fake(10), { batchSize: 2, pipeline, shard: { rank: r, count: 3, pad: true } }).order(0));
    assert.deepEqual(orders, [
      [0, 3, 6, 9],
      [1, 4, 7, 0],
      [2, 5, 8, 1],
    ]);
  });

  test('evaluation shards are disjoint and cover every sample once', () => {
    const orders = [0, 1, 2].map((r) => new data.DataLoader(fake(10), { batchSize: 3, pipeline, shard: { rank: r, count: 3, pad: false } }));
    assert.deepEqual(
      orders.map((l) => l.length),
      [2, 1, 1],
    );
    assert.deepEqual(
      orders.flatMap((l) => l.order(0)).sort((a, b) => a - b),
      [...Array(10).keys()],
    );
  });

  test('a bad shard is an error naming it', () => {
    assert.throws(() => new data.DataLoader(fake(10), { batchSize: 2, pipeline, shard: { rank: 2, count: 2, pad: true } }), /shard must be/);
  });
});

describe('options and environment', () => {
  test("torchrun's variables, with errors naming the variable", () => {
    assert.equal(distributed.contextFromEnv({}), null);
    const c = distributed.contextFromEnv({
      WORLD_SIZE: '4',
      RANK: '3',
      LOCAL_WORLD_SIZE: '2',
      LOCAL_RANK: '1',
      MASTER_ADDR: '10.0.0.1',
      MASTER_PORT: '29400',
      GROUP_RANK: '1',
    });
    assert.deepEqual(c, { rank: 3, worldSize: 4, localRank: 1, localWorldSize: 2, nodeRank: 1, masterAddr: '10.0.0.1', masterPort: 29400, timeoutMs: 300_000 });
    assert.throws(() => distributed.contextFromEnv({ WORLD_SIZE: '2', RANK: '2' }), /RANK must be below WORLD_SIZE/);
    assert.throws(() => distributed.contextFromEnv({ WORLD_SIZE: 'two', RANK: '0' }), /WORLD_SIZE must be an integer/);
    assert.throws(() => distributed.contextFromEnv({ WORLD_SIZE: '2', RANK: '0', LSR_DIST_TIMEOUT: '0' }), /LSR_DIST_TIMEOUT/);
    // An empty host is refused at once, not waited for until the rendezvous times out.
    assert.throws(() => distributed.contextFromEnv({ WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: ' ' }), /MASTER_ADDR must name a host .*got ' '/);
  });

  test('launcher options are taken out of the command; bad ones are errors naming the option', () => {
    const { launch, rest } = distributed.splitLaunchArgs(['--epochs', '2', '--nproc', '3', '--dist-timeout=30', '--sync-bn']);
    assert.deepEqual(rest, ['--epochs', '2', '--sync-bn']);
    assert.deepEqual(launch, { nproc: 3, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 0, timeoutS: 30 });
    assert.equal(distributed.splitLaunchArgs(['--epochs', '2']).launch, null);
    assert.throws(() => distributed.splitLaunchArgs(['--nproc', '0']), /--nproc must be an integer in \[1, \d+\] \(at most 4 per core\), got 0/);
    assert.throws(() => distributed.splitLaunchArgs(['--nnodes', '2', '--master-addr', 'h']), /--master-port is needed/);
    assert.throws(() => distributed.splitLaunchArgs(['--nnodes', '2', '--node-rank', '2', '--master-port', '1']), /--node-rank must be below --nnodes/);
    // A launcher option given no value does not swallow the next option.
    assert.throws(() => distributed.splitLaunchArgs(['--nproc', '2', '--master-addr', '--epochs=1']), /option --master-addr needs a value/);
    for (const empty of [['--master-addr='], ['--master-addr', '']])
      assert.throws(() => distributed.splitLaunchArgs(['--nproc', '2', ...empty]), /--master-addr must name a host \(an address or a name\), got ''/);
  });

  test('a --master-addr this machine cannot resolve is refused before any rank waits for it', async () => {
    await distributed.checkHost('127.0.0.1');
    await assert.rejects(distributed.checkHost('no-such-host.invalid'), /--master-addr no-such-host\.invalid: this machine cannot resolve it \(ENOTFOUND\)/);
  });

  test('the global batch must split evenly', () => {
    const r = lsr(
      'train',
      '--nproc',
      '2',
      '--batch-size',
      '15',
      '--epochs',
      '1',
      '--limit-per-class',
      '4',
      '--workers',
      '0',
      '--out',
      join(tmpdir(), 'lsr-never'),
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--batch-size 15 must be a multiple of the 2 processes \(--nproc 2\)/);
  });

  test('a rank whose peers never arrive stops after the timeout with a message', () => {
    const t0 = Date.now();
    const r = lsrWith(
      { WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29517', LSR_DIST_TIMEOUT: '3' },
      'train',
      '--epochs',
      '1',
      '--limit-per-class',
      '4',
      '--workers',
      '0',
      '--out',
      join(tmpdir(), 'lsr-never'),
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /rank 0 of 2: the rendezvous at 127\.0\.0\.1:29517 failed within 3 s/);
    assert.ok(Date.now() - t0 < 30_000);
  });
});

let root = '';
before(() => {
  root = mkdtempSync(join(tmpdir(), 'lsr-ddp-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

// 80 training images, global batch 16: one epoch is 5 steps. float64, so that rounding (which a
// few SGD steps amplify by orders of magnitude in float32, between thread counts of libtorch
// itself) stays far below the tolerance.
const FIVE_STEPS = [
  '--data',
  'fashion-mnist',
  '--model',
  'resnet20',
  '--limit-per-class',
  '8',
  '--batch-size',
  '16',
  '--epochs',
  '1',
  '--lr',
  '0.1',
  '--precision',
  'fp64',
  '--workers',
  '0',
  '--threads',
  '1',
  '--sync-bn',
];

const modelTensors = (path: string) => {
  const f = io.loadSafetensors(path);
  return new Map([...f.tensors].filter(([k]) => k.startsWith('model.')));
};
/** The largest elementwise difference between two runs' weights, over every tensor. */
const maxDifference = (a: Map<string, L.Tensor>, b: Map<string, L.Tensor>) => {
  let worst = 0;
  for (const [k, t] of a)
    worst = Math.max(
      worst,
      L.tidy(() => t.sub(b.get(k)!).abs().max().item()),
    );
  return worst;
};
const timing = new Set(['seconds', 'imagesPerSecond', 'wallSeconds']);

describe('the device is resolved once, by the run (issue 25, item 7)', () => {
  test('compare --nproc 2 --device auto on a machine with a GPU trains on the CPU, and its report says so', () => {
    // test/fake-gpu.ts makes libtorch's device count read 1 in every rank: auto would be cuda:0 for a
    // one-process run, but a data-parallel run reduces over Gloo on the CPU, and the report must
    // say what the runs used rather than resolve --device again.
    const out = join(root, 'auto-device');
    const fakeGpu = new URL('./fake-gpu.js', import.meta.url).href;
    const r = lsrWith(
      { NODE_OPTIONS: `--import ${fakeGpu}` },
      'compare',
      ...FIVE_STEPS.filter((v, i, all) => v !== '--precision' && all[i - 1] !== '--precision'),
      '--smoothing',
      '0,0.1',
      '--device',
      'auto',
      '--nproc',
      '2',
      '--out',
      out,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /device: cpu \(auto: a data-parallel run reduces its gradients over Gloo on the CPU\)/);
    for (const eps of ['0', '0.1']) assert.equal(JSON.parse(readFileSync(join(out, `smoothing-${eps}`, 'config.json'), 'utf8')).device, 'cpu');
    const report = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(report, /precision (bf16|fp32) \(auto: .*? on cpu/);
    assert.doesNotMatch(report, /cuda/);
  });
});

describe('lsr train --nproc 2 against one process', () => {
  test('the same weights after 5 steps (within 1e-5) and the same metrics file', () => {
    const one = join(root, 'one');
    const two = join(root, 'two');
    const a = lsr('train', ...FIVE_STEPS, '--out', one);
    assert.equal(a.status, 0, a.stderr);
    const b = lsr('train', ...FIVE_STEPS, '--out', two, '--nproc', '2');
    assert.equal(b.status, 0, b.stderr);
    assert.match(b.stderr, /in each of 2 processes \(global batch 16, 8 per process, synchronised BatchNorm\)/);

    const wa = modelTensors(join(one, 'last.safetensors'));
    const wb = modelTensors(join(two, 'last.safetensors'));
    assert.deepEqual([...wb.keys()], [...wa.keys()]);
    const worst = maxDifference(wa, wb);
    assert.ok(worst < 1e-5, `max weight difference ${worst}`);
    // The steps moved the weights: the comparison is not of two untouched initialisations.
    const config = { ...training.DEFAULTS, data: 'fashion-mnist', model: 'resnet20' as const };
    L.manualSeed(0);
    const init = training.buildModel(config, 10, 1);
    const moved = L.tidy(() => init.stateDict().get('conv1.weight')!.to('float64').sub(wa.get('model.conv1.weight')!).abs().max().item());
    assert.ok(moved > 1e-3, `conv1 moved ${moved}`);
    init.dispose();

    const ma = training.readMetrics(join(one, 'metrics.jsonl'));
    const mb = training.readMetrics(join(two, 'metrics.jsonl'));
    assert.equal(mb.length, ma.length);
    for (let e = 0; e < ma.length; e++) {
      assert.deepEqual(Object.keys(mb[e]!), Object.keys(ma[e]!));
      for (const [k, v] of Object.entries(ma[e]!)) {
        if (timing.has(k)) continue;
        const w = (mb[e] as unknown as Record<string, number>)[k]!;
        assert.ok(Math.abs(w - v) <= 1e-9 * Math.max(1, Math.abs(v)), `epoch ${e + 1} ${k}: ${w} vs ${v}`);
      }
    }
    // Rank 0 alone wrote the run's files.
    assert.deepEqual(readdirSync(two).sort(), readdirSync(one).sort());
  });

  test("--accumulate 2 with 2 ranks: gradients summed over the micro-batches before the average (DDP no_sync) give one process's weights", () => {
    const args = (out: string) => ['train', ...FIVE_STEPS, '--accumulate', '2', '--out', out];
    const a = lsr(...args(join(root, 'acc-one')));
    assert.equal(a.status, 0, a.stderr);
    const b = lsr(...args(join(root, 'acc-two')), '--nproc', '2');
    assert.equal(b.status, 0, b.stderr);
    const wa = modelTensors(join(root, 'acc-one', 'last.safetensors'));
    const wb = modelTensors(join(root, 'acc-two', 'last.safetensors'));
    const worst = maxDifference(wa, wb);
    assert.ok(worst < 1e-5, `max weight difference ${worst}`);
    // Micro-batches of 8 are not batches of 16 under BatchNorm: accumulation took effect.
    const whole = modelTensors(join(root, 'one', 'last.safetensors'));
    const apart = L.tidy(() => whole.get('model.conv1.weight')!.sub(wa.get('model.conv1.weight')!).abs().max().item());
    assert.ok(apart > 1e-4, `conv1 differs from the whole-batch run by ${apart}`);
  });

  test("Online Label Smoothing's per-class statistics are summed over ranks: 2 epochs give one process's weights", () => {
    const args = (out: string) => [
      'train',
      ...FIVE_STEPS.filter((v, i, all) => v !== '--epochs' && all[i - 1] !== '--epochs'),
      '--epochs',
      '2',
      '--loss',
      'online-label-smoothing',
      '--out',
      out,
    ];
    const a = lsr(...args(join(root, 'ols-one')));
    assert.equal(a.status, 0, a.stderr);
    const b = lsr(...args(join(root, 'ols-two')), '--nproc', '2');
    assert.equal(b.status, 0, b.stderr);
    const wa = modelTensors(join(root, 'ols-one', 'last.safetensors'));
    const wb = modelTensors(join(root, 'ols-two', 'last.safetensors'));
    const worst = maxDifference(wa, wb);
    assert.ok(worst < 1e-5, `max weight difference ${worst}`);
  });

  test('two "machines" (--nnodes 2, one process each, over loopback) give the same weights', async () => {
    const out = join(root, 'nodes');
    const port = String(await distributed.freePort());
    const node = (rank: number) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const p = spawn(
          process.execPath,
          [
            cli,
            'train',
            ...FIVE_STEPS,
            '--out',
            out,
            '--nproc',
            '1',
            '--nnodes',
            '2',
            '--node-rank',
            String(rank),
            '--master-addr',
            '127.0.0.1',
            '--master-port',
            port,
          ],
          { env: { ...process.env, OMP_NUM_THREADS: '1' } },
        );
        let stderr = '';
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        p.on('exit', (code) => resolve({ code, stderr }));
      });
    const [a, b] = await Promise.all([node(0), node(1)]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const wa = modelTensors(join(root, 'one', 'last.safetensors'));
    const wb = modelTensors(join(out, 'last.safetensors'));
    const worst = maxDifference(wa, wb);
    assert.ok(worst < 1e-5, `max weight difference ${worst}`);
  });
});

/** Process ids of the launcher's children, by their RANK. */
function ranksOf(launcher: ChildProcess): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      if (ppid !== launcher.pid) continue;
      const rank = /(?:^|\0)RANK=(\d+)\0/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'));
      if (rank) out.set(Number(rank[1]), Number(pid));
    } catch {
      // a process that ended meanwhile
    }
  }
  return out;
}

describe('a lost rank', () => {
  const run = () => join(root, 'fault');
  const args = () => [
    'train',
    '--data',
    'fashion-mnist',
    '--model',
    'resnet20',
    '--limit-per-class',
    '60',
    '--batch-size',
    '20',
    '--epochs',
    '2',
    '--lr',
    '0.05',
    '--precision',
    'fp32',
    '--workers',
    '0',
    '--out',
    run(),
  ];

  test('killing one of 2 workers mid-epoch stops the other within 60 s, naming the rank; resuming with 1 process completes', async () => {
    const launcher = spawn(process.execPath, [cli, ...args(), '--nproc', '2'], { env: { ...process.env, OMP_NUM_THREADS: '1' } });
    let stderr = '';
    let killedAt = 0;
    const exited = new Promise<number | null>((resolve) => launcher.on('exit', (code) => resolve(code)));
    launcher.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // In epoch 2, after epoch 1's checkpoint: kill rank 1.
      if (!killedAt && /epoch 2\/2 \[/.test(stderr)) {
        const pid = ranksOf(launcher).get(1);
        if (pid) {
          process.kill(pid, 'SIGKILL');
          killedAt = Date.now();
        }
      }
    });
    const code = await exited;
    assert.ok(killedAt > 0, `rank 1 was never killed; stderr:\n${stderr}`);
    assert.notEqual(code, 0);
    assert.ok(Date.now() - killedAt < 60_000, `took ${Date.now() - killedAt} ms`);
    // The surviving rank's own diagnosis, and the launcher's.
    assert.match(stderr, /rank 0: rank 1 \(\S+ pid \d+\) was lost; stopped at epoch 2, batch \d+/);
    assert.match(stderr, /rank 1 \(local rank 1, pid \d+\) was killed by SIGKILL/);
    const before = training.readMetrics(join(run(), 'metrics.jsonl'));
    assert.equal(before.length, 1);

    const r = lsr(...args(), '--resume');
    assert.equal(r.status, 0, r.stderr);
    const metrics = training.readMetrics(join(run(), 'metrics.jsonl'));
    assert.equal(metrics.length, 2);
    assert.deepEqual(metrics[0], before[0]);
  });
});

describe('a hung rank', () => {
  test('a rank that stops answering is given up after --dist-timeout, and named', async () => {
    const port = String(await distributed.freePort());
    const out = join(root, 'hang');
    const args = [
      'train',
      '--data',
      'fashion-mnist',
      '--model',
      'resnet20',
      '--limit-per-class',
      '60',
      '--batch-size',
      '20',
      '--epochs',
      '2',
      '--precision',
      'fp32',
      '--workers',
      '0',
      '--out',
      out,
    ];
    // Two ranks started by hand, with torchrun's variables.
    const rank = (r: number) =>
      spawn(process.execPath, [cli, ...args], {
        env: {
          ...process.env,
          OMP_NUM_THREADS: '1',
          WORLD_SIZE: '2',
          RANK: String(r),
          LOCAL_RANK: String(r),
          LOCAL_WORLD_SIZE: '2',
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: port,
          LSR_DIST_TIMEOUT: '4',
        },
      });
    const r0 = rank(0);
    const r1 = rank(1);
    let stderr = '';
    let stoppedAt = 0;
    r0.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!stoppedAt && /epoch 1\/2 \[=+ *\] [1-9]/.test(stderr)) {
        r1.kill('SIGSTOP');
        stoppedAt = Date.now();
      }
    });
    const code = await new Promise<number | null>((resolve) => r0.on('exit', (c) => resolve(c)));
    r1.kill('SIGKILL');
    assert.ok(stoppedAt > 0, `rank 1 was never stopped; stderr:\n${stderr}`);
    assert.notEqual(code, 0);
    assert.ok(Date.now() - stoppedAt < 30_000, `took ${Date.now() - stoppedAt} ms`);
    assert.match(stderr, /rank 0: rank 1 \(\S+ pid \d+\) was lost; stopped at epoch 1, batch \d+/);
  });
});

describe('ranks in step (issue 17, item 6)', () => {
  test('a rank that issues another collective than the others stops every rank with a message naming each one', async () => {
    const port = String(await distributed.freePort());
    const script = join(root, 'out-of-step.mjs');
    writeFileSync(
      script,
      `import { distributed } from ${JSON.stringify(join(distRoot, 'src', 'index.js'))};
const ctx = distributed.contextFromEnv();
distributed.joinGroup(ctx);
try {
  distributed.collective(ctx, 'at epoch 1, batch 1', () => {});
  // Rank 1 runs a step the others do not: its next collective is not theirs.
  if (ctx.rank === 1) distributed.collective(ctx, 'at epoch 1, batch 2', () => {});
  distributed.collective(ctx, 'before validating epoch 1', () => {});
  console.log('in step');
} catch (e) {
  console.log(e.message);
  process.exit(3);
}
`,
    );
    const rank = (r: number) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const env = { ...process.env, WORLD_SIZE: '2', RANK: String(r), MASTER_ADDR: '127.0.0.1', MASTER_PORT: port, LSR_DIST_TIMEOUT: '20' };
        const child = spawn(process.execPath, [script], { env });
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        child.on('exit', (code) => resolve({ code, out }));
      });
    const [r0, r1] = await Promise.all([rank(0), rank(1)]);
    for (const [r, res] of [r0, r1].entries()) {
      assert.equal(res.code, 3, `rank ${r}: ${res.out}`);
      assert.match(
        res.out,
        new RegExp(
          `rank ${r}: the ranks are out of step: rank 0 is before validating epoch 1 \\(its collective #2\\); rank 1 is at epoch 1, batch 2 \\(its collective #2\\)`,
        ),
      );
    }
  });

  test('--skip-bad-images with --nproc 2 and half the images unreadable: the same images left out on every rank, the run completes', async () => {
    const dir = join(root, 'half-bad');
    mkdirSync(join(dir, 'images'), { recursive: true });
    const good = await sharp(Buffer.alloc(16 * 16 * 3, 120), { raw: { width: 16, height: 16, channels: 3 } })
      .jpeg()
      .toBuffer();
    let csv = 'image,label\n';
    for (let i = 0; i < 40; i++) {
      // Every other image is a JPEG cut off after its header: unreadable. Batches of 2 per rank
      // meet all-unreadable batches on one rank and not the other.
      writeFileSync(join(dir, 'images', `${i}.jpg`), i % 2 === 1 || i % 7 === 0 ? good.subarray(0, 40) : good);
      csv += `images/${i}.jpg,${['a', 'b'][i % 4 < 2 ? 0 : 1]}\n`;
    }
    writeFileSync(join(dir, 'train.csv'), csv);
    const out = join(root, 'half-bad-run');
    const args = ['--data', dir, '--model', 'resnet20', '--image-size', '16', '--batch-size', '4', '--epochs', '2', '--lr', '0.05'];
    const r = lsr('train', ...args, '--workers', '0', '--threads', '1', '--skip-bad-images', '--val-fraction', '0.25', '--out', out, '--nproc', '2');
    assert.equal(r.status, 0, r.stderr);
    const bad = readFileSync(join(out, 'bad-images.txt'), 'utf8').trim().split('\n');
    assert.equal(bad.length, 23, bad.join('\n')); // i odd (20) or a multiple of 7 among the even (0, 14, 28)
    assert.equal(training.readMetrics(join(out, 'metrics.jsonl')).length, 2);
  });
});

describe('eval and predict --nproc 2', () => {
  test("with each rank's own BatchNorm statistics, the epoch's validation is that of the saved model", () => {
    const run = join(root, 'local-bn');
    const r = lsr('train', ...FIVE_STEPS.filter((v) => v !== '--sync-bn'), '--out', run, '--nproc', '2');
    assert.equal(r.status, 0, r.stderr);
    const [m] = training.readMetrics(join(run, 'metrics.jsonl'));
    const e = lsr('eval', '--run', run);
    assert.equal(e.status, 0, e.stderr);
    const ev = JSON.parse(readFileSync(join(run, 'eval', 'val-best', 'eval.json'), 'utf8'));
    assert.ok(Math.abs(ev.nll - m!.valNll!) < 1e-9, `eval NLL ${ev.nll} vs the run's ${m!.valNll}`);
    assert.equal(ev.accuracy, m!.valAccuracy);
  });

  test('shard the data and gather the same results as one process', () => {
    const run = join(root, 'one');
    assert.ok(existsSync(join(run, 'best.safetensors')), 'needs the 5-step run above');
    const a = lsr('eval', '--run', run);
    assert.equal(a.status, 0, a.stderr);
    const evalOne = JSON.parse(readFileSync(join(run, 'eval', 'val-best', 'eval.json'), 'utf8'));
    const b = lsr('eval', '--run', run, '--nproc', '2');
    assert.equal(b.status, 0, b.stderr);
    const evalTwo = JSON.parse(readFileSync(join(run, 'eval', 'val-best', 'eval.json'), 'utf8'));
    assert.equal(evalTwo.count, evalOne.count);
    assert.deepEqual(evalTwo.perClass, evalOne.perClass);
    for (const k of ['accuracy', 'top5', 'nll', 'ece']) assert.ok(Math.abs(evalTwo[k] - evalOne[k]) < 1e-9, k);
  });

  test("eval --data fashion-mnist-test: Fashion-MNIST's 10,000 test images, not the validation split", () => {
    const run = join(root, 'one');
    assert.ok(existsSync(join(run, 'best.safetensors')), 'needs the 5-step run above');
    const r = lsr('eval', '--run', run, '--data', 'fashion-mnist-test', '--nproc', '2');
    assert.equal(r.status, 0, r.stderr);
    const e = JSON.parse(readFileSync(join(run, 'eval', 'fashion-mnist-test-best', 'eval.json'), 'utf8'));
    assert.equal(e.data, 'fashion-mnist-test');
    assert.equal(e.count, 10000);
    assert.deepEqual(Object.keys(e.perClass), [...data.FASHION_MNIST_CLASSES]);
    assert.match(r.stdout, /\(10000 images\)/);
  });
});
