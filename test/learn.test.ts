// End to end through the engine: a two-layer network learns a small synthetic problem.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as L from '../src/index.js';
import { F } from '../src/index.js';

test('a two-layer MLP learns XOR-like quadrants with SGD', () => {
  L.manualSeed(0);
  const x = L.rand([256, 2]).mul(2).sub(1);
  // class = 1 when the two coordinates have the same sign: not linearly separable
  const y = L.tidy(() => x.select(1, 0).mul(x.select(1, 1)).gt(0).long());
  const w1 = L.randn([16, 2]).mul(0.5).requiresGrad_();
  const b1 = L.zeros([16], { requiresGrad: true });
  const w2 = L.randn([2, 16]).mul(0.5).requiresGrad_();
  const b2 = L.zeros([2], { requiresGrad: true });
  const params = [w1, b1, w2, b2];
  const forward = () => F.linear(F.linear(x, w1, b1).tanh(), w2, b2);
  const lossAt = () => L.tidy(() => F.crossEntropy(forward(), y).item());
  const first = lossAt();
  for (let i = 0; i < 500; i++) {
    L.tidy(() => {
      F.crossEntropy(forward(), y).backward();
      L.noGrad(() => {
        for (const p of params) {
          p.sub_(p.grad!.mul(0.5));
          p.grad = undefined;
        }
      });
    });
  }
  const last = lossAt();
  const acc = L.tidy(() => forward().argmax(1).eq(y).float().mean().item());
  assert.ok(last < first * 0.3, `loss ${first} -> ${last}`);
  assert.ok(acc > 0.95, `accuracy ${acc}`);
});
