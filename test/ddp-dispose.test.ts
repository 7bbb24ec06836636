// The data-parallel wrapper frees its native gradient reducer (issue 17, item 7): each compare or
// distill run under DDP used to leak the previous model's reducer, and with it the model's weights
// and buckets as large as its gradients. Two real ranks over loopback, as test/distributed.test.ts
// runs them: building, using and disposing a DDP wrapper many times leaves nothing behind.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { distributed } from '../src/index.js';
import { distRoot } from './helpers.js';

let root = '';
before(() => {
  root = mkdtempSync(join(tmpdir(), 'lsr-ddp-dispose-'));
});
after(() => rmSync(root, { recursive: true, force: true }));

const ROUNDS = 12;

const script = `import * as L from ${JSON.stringify(join(distRoot, 'src', 'index.js'))};
const { distributed, dist, nn } = L;
const ctx = distributed.contextFromEnv();
distributed.joinGroup(ctx);
L.manualSeed(ctx.rank);
const samples = [];
for (let round = 0; round < ${ROUNDS}; round++) {
  // A new model and wrapper each round, as each run of compare/distill builds them.
  const model = new nn.Linear(256, 256);
  const ddp = new distributed.DistributedDataParallel(model, { syncBatchNorm: false });
  L.tidy(() => {
    ddp.beforeForward();
    model.forward(L.ones([4, 256]).mul(ctx.rank + 1)).sum().backward();
    ddp.averageGradients();
    // The gradient is the mean over both ranks: inputs 1 and 2 give 1.5·4 per weight.
    const g = model.weight.grad;
    if (Math.abs(g.mean().item() - 6) > 1e-5) throw new Error('gradient not averaged: ' + g.mean().item());
  });
  const reducers = dist.reducerStats();
  ddp.dispose();
  ddp.dispose(); // idempotent
  model.dispose();
  samples.push({ reducersBefore: reducers.reducers, bucketBytes: reducers.bytes, after: dist.reducerStats(), live: L.memoryStats().liveTensors });
}
// A training step after dispose is an error, not a crash; a model outliving its disposed wrapper
// still trains locally (the reducer's hooks are gone from its parameters).
const model = new nn.Linear(8, 2);
const ddp = new distributed.DistributedDataParallel(model, { syncBatchNorm: false });
ddp.dispose();
let afterDispose = '';
try {
  ddp.averageGradients();
} catch (e) {
  afterDispose = e.message;
}
const localGrad = L.tidy(() => {
  model.forward(L.ones([1, 8])).sum().backward();
  return model.bias.grad.sum().item();
});
ddp.syncBuffers();
model.dispose();
distributed.leaveGroup(ctx);
console.log(JSON.stringify({ samples, afterDispose, localGrad }));
`;

describe('DistributedDataParallel.dispose (issue 17, item 7)', () => {
  test(`building, using and disposing a DDP wrapper ${ROUNDS} times over 2 ranks leaves no reducer and a flat tensor count`, async () => {
    const file = join(root, 'rounds.mjs');
    writeFileSync(file, script);
    const port = String(await distributed.freePort());
    const rank = (r: number) =>
      new Promise<{ code: number | null; signal: string | null; out: string; err: string }>((resolve) => {
        const env = {
          ...process.env,
          WORLD_SIZE: '2',
          RANK: String(r),
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: port,
          LSR_DIST_TIMEOUT: '60',
          OMP_NUM_THREADS: '1',
        };
        const child = spawn(process.execPath, [file], { env });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
        });
        child.on('exit', (code, signal) => resolve({ code, signal, out, err }));
      });
    const results = await Promise.all([rank(0), rank(1)]);
    for (const [r, res] of results.entries()) {
      assert.equal(res.signal, null, `rank ${r} crashed: ${res.err}`);
      assert.equal(res.code, 0, `rank ${r}: ${res.err}`);
      const { samples, afterDispose, localGrad } = JSON.parse(res.out.trim().split('\n').pop()!) as {
        samples: Array<{ reducersBefore: number; bucketBytes: number; after: { reducers: number; bytes: number }; live: number }>;
        afterDispose: string;
        localGrad: number;
      };
      assert.equal(samples.length, ROUNDS);
      for (const [i, s] of samples.entries()) {
        // One reducer, holding the 256×256 weight's and the bias's gradients, while the wrapper lives...
        assert.equal(s.reducersBefore, 1, `rank ${r} round ${i}: live reducers before dispose`);
        assert.equal(s.bucketBytes, (256 * 256 + 256) * 4, `rank ${r} round ${i}: bucket bytes`);
        // ...and none after.
        assert.deepEqual(s.after, { reducers: 0, bytes: 0 }, `rank ${r} round ${i}: after dispose`);
        assert.equal(s.live, samples[0]!.live, `rank ${r} round ${i}: live tensor handles`);
      }
      assert.match(afterDispose, /ddp_reducer_finish: reducer \d+ was disposed/);
      assert.equal(localGrad, 2);
    }
  });
});
