// Tensors from several worker_threads at once (issue 17, item 3): the handle table is shared by
// every thread of the process, so three workers and the main thread creating, using and disposing
// thousands of tensors together must never crash, never see a spurious "disposed tensor", and
// compute the right numbers; a handle made in one thread is valid in another. Each run is a child
// process, repeated, since a race shows only in some runs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { indexUrl, runIsolated } from './helpers.js';

// The same loop runs in the main thread and in each worker: `id` makes each thread's numbers its own.
const work = `async function work(L, id, n) {
  const errors = [];
  let wrong = 0;
  for (let i = 0; i < n && errors.length < 5; i++) {
    try {
      const k = 1 + (i % 17);
      const o = L.ones([k]);
      const a = o.mul(i);
      const b = a.add(id);
      const s = b.sum();
      if (s.item() !== k * (i + id)) wrong++;
      for (const t of [o, a, b, s]) t.dispose();
      const r = L.tidy(() => {
        const m = L.eye(3).mul(id + 1);
        return m.matmul(m).sum().item();
      });
      if (r !== 3 * (id + 1) ** 2) wrong++;
      if (i % 8 === 0 && L.inferenceMode(() => L.tidy(() => L.ones([4]).add(id).sum().item())) !== 4 * (1 + id)) wrong++;
      if (i % 8 === 4) {
        const x = L.ones([3], { requiresGrad: true });
        L.tidy(() => x.mul(id + 2).sum().backward());
        const g = x.grad;
        if (L.tidy(() => g.sum().item()) !== 3 * (id + 2)) wrong++;
        g.dispose();
        x.dispose();
      }
    } catch (e) {
      errors.push(String(e && e.message));
    }
  }
  return { wrong, errors };
}`;

const body = (threads: number, n: number) => `
import { Worker } from 'node:worker_threads';
${work}
const before = L.memoryStats().liveTensors;
const workerCode = ${JSON.stringify(`
  (async () => {
    const { parentPort, workerData } = await import('node:worker_threads');
    const L = await import(${JSON.stringify(indexUrl)});
    ${work}
    const result = await work(L, workerData.id, workerData.n);
    // A handle made here, read and freed by the main thread.
    const shared = L.tensor([workerData.id + 0.5], { dtype: 'float64' });
    parentPort.postMessage({ ...result, handle: shared.handle });
  })();
`)};
const results = await Promise.all(
  Array.from({ length: ${threads} }, (_, k) => new Promise((resolve, reject) => {
    const w = new Worker(workerCode, { eval: true, workerData: { id: k + 1, n: ${n} } });
    w.once('message', resolve);
    w.once('error', reject);
  })).concat([work(L, 0, ${n})]),
);
const shared = results.filter((r) => r.handle !== undefined).map((r) => {
  const t = new L.Tensor(r.handle);
  const v = t.item();
  t.dispose();
  return v;
});
console.log(JSON.stringify({
  wrong: results.reduce((s, r) => s + r.wrong, 0),
  errors: results.flatMap((r) => r.errors),
  shared,
  leaked: L.memoryStats().liveTensors - before,
}));
`;

describe('tensors from worker_threads', () => {
  test('3 workers and the main thread creating, using and disposing tensors together: no crash, no spurious error, right numbers', () => {
    for (let run = 0; run < 5; run++) {
      const r = runIsolated(body(3, 2500));
      assert.equal(r.signal, null, `run ${run}: the process crashed with ${r.signal}: ${r.stderr.slice(-2000)}`);
      assert.equal(r.status, 0, `run ${run}: exit ${r.status}: ${r.stderr.slice(-2000)}`);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { wrong: number; errors: string[]; shared: number[]; leaked: number };
      assert.deepEqual(out.errors, [], `run ${run}: errors`);
      assert.equal(out.wrong, 0, `run ${run}: wrong results`);
      // Handles made in the workers are valid in the main thread.
      assert.deepEqual(out.shared, [1.5, 2.5, 3.5], `run ${run}: handles shared between threads`);
      // Every thread disposed what it made (the workers' module-level tensors excepted, none today).
      assert.equal(out.leaked, 0, `run ${run}: live tensors left`);
    }
  });
});
