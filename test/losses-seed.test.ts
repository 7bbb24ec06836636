// The seed's LSR and LSR2 equal PyTorch's cross-entropy with label_smoothing = ε (libtorch's kernel).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { F, LSR, LSR2 } from '../src/index.js';
import { assertTensorClose, gradcheck } from './helpers.js';

describe('the seed losses', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    test(`LSR and LSR2 equal crossEntropy(labelSmoothing) in ${dtype}, values and gradients`, () => {
      L.manualSeed(7);
      for (const [n, c] of [
        [1, 2],
        [8, 5],
        [33, 176],
      ] as const) {
        for (const eps of [0, 0.1, 0.35, 1]) {
          L.tidy(() => {
            const x = L.randn([n, c], { dtype }).mul(3).requiresGrad_();
            const y = L.randint(0, c, [n]);
            const ref = F.crossEntropy(x, y, { labelSmoothing: eps });
            const tol = dtype === 'float64' ? 1e-12 : 2e-6;
            ref.backward();
            const gRef = x.grad!.clone();
            x.grad = undefined;
            for (const loss of [new LSR(eps).forward(x, y), new LSR2(eps).forward(x, y)]) {
              assertTensorClose(loss, ref, tol, `n=${n} c=${c} ε=${eps}`);
              loss.backward();
              assertTensorClose(x.grad!, gRef, tol, `grad n=${n} c=${c} ε=${eps}`);
              x.grad = undefined;
            }
            const none = new LSR2(eps, 'none').forward(x, y);
            assertTensorClose(none, F.crossEntropy(x, y, { labelSmoothing: eps, reduction: 'none' }), tol);
            assertTensorClose(new LSR2(eps, 'sum').forward(x, y), none.sum(), tol);
          });
        }
      }
    });
  }

  test("defaults are the seed's: LSR smoothing 0, LSR2 e 0.01 and mean", () => {
    assert.equal(new LSR().smoothing, 0);
    assert.equal(new LSR().confidence, 1);
    assert.equal(new LSR2().e, 0.01);
    assert.equal(new LSR2().reduction, 'mean');
  });

  test('LSR2 gradient matches finite differences', () => {
    gradcheck('LSR2', (x) => new LSR2(0.2).forward(x!, L.tensor([2n, 0n, 1n])), [{ shape: [3, 4] }]);
  });

  test("LSR2 input checks have the seed's messages", () => {
    const y = L.tensor([0n, 1n]);
    assert.throws(() => new LSR2().forward(L.randn([3, 4]), y), /expected input batch size \(3\) to match target batch size \(2\)/);
    assert.throws(() => new LSR2().forward(L.randn([2]), y), /expected input to have at least 2 dimensions \(got 1\)/);
    assert.throws(() => new LSR2().forward(L.randn([2, 3, 4]), y), /only 2-dimensional input is implemented \(got shape \[2,3,4\]\)/);
    assert.throws(() => new LSR2(0.1, 'avg' as 'mean').forward(L.randn([2, 3]), y), /unrecognized reduction 'avg', expected one of none, mean, sum/);
  });
});

describe('the seed losses refuse an ε outside [0, 1] (issue 26, item 13)', () => {
  test('LSR and LSR2 take ε in [0, 1], as crossEntropy does', () => {
    assert.throws(() => new L.LSR(-0.5), { code: 'LSR_BAD_INPUT', message: 'LSR: smoothing must be in [0, 1], got -0.5' });
    assert.throws(() => new L.LSR2(2), { code: 'LSR_BAD_INPUT', message: 'LSR2: e must be in [0, 1], got 2' });
    assert.throws(() => new L.LSR(Number.NaN), /LSR: smoothing must be in \[0, 1\], got NaN/);
    assert.equal(new L.LSR(1).confidence, 0);
  });
});
