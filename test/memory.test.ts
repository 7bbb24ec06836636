// Deterministic release: dispose(), tidy() scopes, keep(), memoryStats(), and the GC backstop.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { runIsolated } from './helpers.js';

describe('memory', () => {
  test('dispose frees at once and is idempotent', () => {
    const before = L.memoryStats();
    const x = L.zeros([1000]);
    const during = L.memoryStats();
    assert.equal(during.liveTensors, before.liveTensors + 1);
    assert.equal(during.bytes, before.bytes + 4000);
    x.dispose();
    x.dispose();
    assert.ok(x.isDisposed);
    assert.deepEqual(L.memoryStats(), before);
  });

  test('tidy disposes intermediates, keeps results (nested in arrays and objects) and keep()', () => {
    const before = L.memoryStats().liveTensors;
    let kept: L.Tensor | undefined;
    const out = L.tidy(() => {
      const a = L.ones([10]);
      const b = a.mul(2);
      kept = a.add(5).keep();
      return { sum: b.sum(), parts: [b.exp()] };
    });
    assert.equal(L.memoryStats().liveTensors, before + 3);
    assert.equal(out.sum.item(), 20);
    assert.equal(
      L.tidy(() => kept!.sum().item()),
      60,
    );
    L.dispose([out, kept]);
    assert.equal(L.memoryStats().liveTensors, before);
  });

  test('nested tidy moves results to the enclosing scope', () => {
    const before = L.memoryStats().liveTensors;
    const r = L.tidy(() => {
      const inner = L.tidy(() => L.ones([3]).mul(3));
      return inner.add(1);
    });
    assert.equal(L.memoryStats().liveTensors, before + 1);
    assert.deepEqual(r.toArray(), [4, 4, 4]);
    r.dispose();
  });

  test('tidy cleans up when fn throws, and rejects async functions', () => {
    const before = L.memoryStats().liveTensors;
    assert.throws(
      () =>
        L.tidy(() => {
          L.ones([5]);
          throw new Error('inner');
        }),
      /inner/,
    );
    assert.equal(L.memoryStats().liveTensors, before);
    assert.throws(() => L.tidy(() => Promise.resolve(1)), /synchronous/);
  });

  test('grad handles and autograd graphs are freed inside tidy', () => {
    const w = L.randn([50, 50], { requiresGrad: true });
    const before = L.memoryStats();
    for (let i = 0; i < 20; i++) {
      L.tidy(() => {
        w.mm(w).relu().sum().backward();
        const g = w.grad!;
        L.noGrad(() => w.sub_(g.mul(1e-3)));
        w.grad = undefined;
      });
    }
    assert.deepEqual(L.memoryStats(), before);
  });

  test('the GC finalizer is a backstop through the same release path', () => {
    const r = runIsolated(
      `const base = L.memoryStats().liveTensors;
       for (let i = 0; i < 2000; i++) L.zeros([1000]);
       const peak = L.memoryStats().liveTensors - base;
       for (let i = 0; i < 20 && L.memoryStats().liveTensors - base > 10; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
       console.log(JSON.stringify({ peak, after: L.memoryStats().liveTensors - base }));`,
      ['--expose-gc'],
    );
    assert.equal(r.status, 0, r.stderr);
    const { peak, after } = JSON.parse(r.stdout.trim()) as { peak: number; after: number };
    assert.equal(peak, 2000);
    assert.ok(after <= 10, `${after} tensors still live after GC`);
  });

  test("V8 is told of the bytes only the GC may free: escaped tensors drive collections, a scope's do not", () => {
    // What V8 is told is counted, not timed: a scope's tensors add nothing to it whatever the
    // scheduler does; whether escaped tensors get collected is read off the live bytes.
    const r = runIsolated(
      `const told = () => L.externalMemoryStats().reportedIncreases;
       const t0 = told();
       // 5 × 1 GiB made and freed by tidy() scopes: nothing for the GC to do, nothing reported.
       for (let k = 0; k < 5; k++) L.tidy(() => { for (let i = 0; i < 16; i++) L.zeros([16 << 20]); });
       const inScopeMiB = (told() - t0) / 2 ** 20;
       // 1000 × 8 MiB never disposed: their reported bytes make V8 collect them (no explicit gc()).
       const t1 = told();
       let maxLive = 0;
       for (let i = 0; i < 1000; i++) {
         L.zeros([2 << 20]);
         if (i % 10 === 0) await new Promise((r) => setImmediate(r));
         maxLive = Math.max(maxLive, L.memoryStats().bytes);
       }
       console.log(JSON.stringify({ inScopeMiB, escapedMiB: (told() - t1) / 2 ** 20, maxLiveMiB: maxLive / 2 ** 20 }));`,
    );
    assert.equal(r.status, 0, r.stderr);
    const { inScopeMiB, escapedMiB, maxLiveMiB } = JSON.parse(r.stdout.trim()) as { inScopeMiB: number; escapedMiB: number; maxLiveMiB: number };
    assert.equal(inScopeMiB, 0, `V8 was told of ${inScopeMiB} MiB while scopes made and freed 5 GiB`);
    // V8 hears of them as they are made (net of those it collects meanwhile): more than may be live at once.
    assert.ok(escapedMiB >= 2000, `V8 was told of ${escapedMiB} MiB of 8000 MiB of undisposed tensors`);
    // Without the report, about 6 GiB of the 8 GiB stay live before V8 collects on its own.
    assert.ok(maxLiveMiB < 2000, `undisposed tensors reached ${maxLiveMiB} MiB of 8000 allocated`);
  });
});
