// The variants beyond the seed, each checked against its formula written out by hand.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { F, OnlineLabelSmoothing, type Tensor, confidencePenalty, crossEntropy, distillationLoss, mixupTarget, softTargetCrossEntropy } from '../src/index.js';
import { assertClose, assertTensorClose, values } from './helpers.js';

const f64 = (data: number[][]) => L.tensor(data, { dtype: 'float64' });
const logits = () => L.fromTypedArray(values(5 * 4, 21, -3, 3), [5, 4], { dtype: 'float64' });
const labels = () => L.tensor([0, 3, 1, 1, 2], { dtype: 'int64' });

/** −Σ_c t_c·log softmax(x)_c per row: cross-entropy against an explicit target, by hand. */
function ceAgainst(x: Tensor, t: Tensor): number[] {
  const rows = x.toArray() as number[][];
  const ts = t.toArray() as number[][];
  return rows.map((row, i) => {
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    return -row.reduce((s, v, c) => s + ts[i]![c]! * (v - lse), 0);
  });
}
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('label smoothing conventions', () => {
  test("smoothingMass 'others': the true class keeps 1 − ε and each other class gets ε/(C − 1)", () => {
    L.tidy(() => {
      const x = logits();
      const y = labels();
      const eps = 0.3;
      const target = F.oneHot(y, 4)
        .to('float64')
        .mul(1 - eps - eps / 3)
        .add(eps / 3);
      const expected = ceAgainst(x, target);
      assertClose(crossEntropy(x, y, { labelSmoothing: eps, smoothingMass: 'others', reduction: 'none' }).toFlatArray(), expected, 1e-12);
      assertClose(crossEntropy(x, y, { labelSmoothing: eps, smoothingMass: 'others' }).item(), mean(expected), 1e-12);
      // ε = 1 puts all mass on the other classes, beyond PyTorch's ε ≤ 1 in its own convention.
      const allOthers = F.oneHot(y, 4)
        .to('float64')
        .mul(-1 / 3)
        .add(1 / 3);
      assertClose(crossEntropy(x, y, { labelSmoothing: 1, smoothingMass: 'others', reduction: 'none' }).toFlatArray(), ceAgainst(x, allOthers), 1e-12);
    });
  });

  test('per-class ε: a row with true class c uses ε_c (and a constant tensor equals the scalar)', () => {
    L.tidy(() => {
      const x = logits().requiresGrad_();
      const y = labels();
      const perClass = [0, 0.1, 0.5, 0.9];
      const rows = (y.toFlatArray() as number[]).map((c, i) => {
        const eps = perClass[c]!;
        const t = new Array(4).fill(eps / 4);
        t[c] += 1 - eps;
        return ceAgainst(x.detach().select(0, i).unsqueeze(0), f64([t]))[0]!;
      });
      const eps = L.tensor(perClass, { dtype: 'float64' });
      assertClose(crossEntropy(x, y, { labelSmoothing: eps, reduction: 'none' }).toFlatArray(), rows, 1e-12);
      const constant = L.full([4], 0.2, { dtype: 'float64' });
      for (const reduction of ['none', 'mean', 'sum'] as const) {
        const weight = L.tensor([1, 2, 0.5, 1], { dtype: 'float64' });
        const o = { reduction, weight, ignoreIndex: 1 };
        assertTensorClose(crossEntropy(x, y, { ...o, labelSmoothing: constant }), crossEntropy(x, y, { ...o, labelSmoothing: 0.2 }), 1e-12, reduction);
      }
      // and its gradient is PyTorch's when ε is the same for every class
      crossEntropy(x, y, { labelSmoothing: constant }).backward();
      const g = x.grad!;
      x.grad = undefined;
      F.crossEntropy(x, y, { labelSmoothing: 0.2 }).backward();
      assertTensorClose(g, x.grad!, 1e-12);
    });
  });
});

describe('mixup / CutMix targets', () => {
  test("mixupTarget is timm's: λ·smooth(y) + (1 − λ)·smooth(flip(y)), rows summing to 1", () => {
    L.tidy(() => {
      const y = L.tensor([2, 0, 1], { dtype: 'int64' });
      const t = mixupTarget(y, 3, 0.7, 0.3);
      const off = 0.1;
      const on = 0.8;
      const smooth = (c: number) => [0, 1, 2].map((k) => (k === c ? on : off));
      const expected = [2, 0, 1].map((c, i) => smooth(c).map((v, k) => 0.7 * v + 0.3 * smooth([1, 0, 2][i]!)[k]!));
      assertClose(t.toFlatArray(), expected.flat(), 1e-6);
      assertClose(t.sum(1).toFlatArray(), [1, 1, 1], 1e-6);
    });
  });

  test('soft-target cross-entropy of a mix is the same mix of the two smoothed losses', () => {
    L.tidy(() => {
      const x = logits().to('float32');
      const y = labels();
      const lam = 0.35;
      const mixed = softTargetCrossEntropy(x, mixupTarget(y, 4, lam, 0.1));
      const separate = crossEntropy(x, y, { labelSmoothing: 0.1 })
        .mul(lam)
        .add(crossEntropy(x, y.flip(0), { labelSmoothing: 0.1 }).mul(1 - lam));
      assertClose(mixed.item(), separate.item(), 1e-6);
    });
  });
});

describe('confidence penalty and distillation', () => {
  test('confidencePenalty is CE − β·H(p)', () => {
    L.tidy(() => {
      const x = logits();
      const y = labels();
      const p = F.softmax(x, 1).toArray() as number[][];
      const entropy = p.map((row) => -row.reduce((s, v) => s + v * Math.log(v), 0));
      const ce = crossEntropy(x, y, { reduction: 'none' }).toFlatArray();
      const expected = ce.map((v, i) => v - 0.7 * entropy[i]!);
      assertClose(confidencePenalty(x, y, { beta: 0.7, reduction: 'none' }).toFlatArray(), expected, 1e-12);
      assertClose(confidencePenalty(x, y, { beta: 0.7 }).item(), mean(expected), 1e-12);
    });
  });

  test('distillationLoss is (1 − β)·CE + β·T²·KL(teacher_T ‖ student_T), and leaves the teacher without gradient', () => {
    L.tidy(() => {
      const s = logits().requiresGrad_();
      const t = L.fromTypedArray(values(20, 33, -2, 2), [5, 4], { dtype: 'float64' }).requiresGrad_();
      const y = labels();
      const T = 3;
      const ps = F.softmax(s.detach().div(T), 1).toArray() as number[][];
      const pt = F.softmax(t.detach().div(T), 1).toArray() as number[][];
      const kl = mean(pt.map((row, i) => row.reduce((acc, v, c) => acc + v * (Math.log(v) - Math.log(ps[i]![c]!)), 0)));
      const ce = crossEntropy(s, y).item();
      const loss = distillationLoss(s, t, y, { beta: 0.6, temperature: T });
      assertClose(loss.item(), 0.4 * ce + 0.6 * T * T * kl, 1e-12);
      loss.backward();
      assert.ok(s.grad !== undefined);
      assert.equal(t.grad, undefined);
    });
  });
});

describe('Online Label Smoothing', () => {
  test('first epoch: α·CE + (1 − α)·CE against ε/(C − 1) label smoothing', () => {
    L.tidy(() => {
      const ols = new OnlineLabelSmoothing(4, 0.4, 0.2);
      const x = logits().to('float32');
      const y = labels();
      const target = F.oneHot(y, 4)
        .to('float64')
        .mul(1 - 0.2 - 0.2 / 3)
        .add(0.2 / 3);
      const expected = 0.4 * crossEntropy(x, y).item() + 0.6 * mean(ceAgainst(x.to('float64'), target));
      assertClose(ols.forward(x, y).item(), expected, 1e-6);
      ols.dispose();
    });
  });

  test('nextEpoch: S[c] is the mean predicted distribution of the correct samples of class c; others keep theirs', () => {
    L.tidy(() => {
      const ols = new OnlineLabelSmoothing(3, 0.5, 0.1);
      const before = ols.supervise.toArray() as number[][];
      const x = L.tensor(
        [
          [3, 0, 0],
          [2, 1, 0],
          [0, 4, 0],
          [0, 0, 1],
          [5, 0, 0],
        ],
        { dtype: 'float32' },
      );
      const y = L.tensor([0, 0, 1, 0, 1], { dtype: 'int64' }); // correct: rows 0, 1 (class 0) and 2 (class 1)
      ols.forward(x, y);
      ols.nextEpoch();
      const p = F.softmax(x, 1).toArray() as number[][];
      const s = ols.supervise.toArray() as number[][];
      assertClose(
        s[0]!,
        [0, 1, 2].map((c) => (p[0]![c]! + p[1]![c]!) / 2),
        1e-6,
      );
      assertClose(s[1]!, p[2]!, 1e-6);
      assertClose(s[2]!, before[2]!, 1e-7); // no correct sample of class 2
      // eval mode records nothing
      ols.training = false;
      ols.forward(L.tensor([[0, 0, 9]], { dtype: 'float32' }), L.tensor([2], { dtype: 'int64' }));
      ols.nextEpoch();
      assertClose((ols.supervise.toArray() as number[][])[2]!, before[2]!, 1e-7);
      ols.dispose();
    });
  });

  test('its state survives a checkpoint: a restored copy continues identically', () => {
    L.tidy(() => {
      const a = new OnlineLabelSmoothing(3);
      const x = L.tensor(
        [
          [3, 0, 0],
          [0, 2, 1],
        ],
        { dtype: 'float32' },
      );
      const y = L.tensor([0, 1], { dtype: 'int64' });
      a.forward(x, y); // mid-epoch: sums recorded, not yet applied
      const b = new OnlineLabelSmoothing(3);
      b.loadStateDict(a.stateDict());
      for (const o of [a, b]) {
        o.forward(L.tensor([[1, 0, 0]], { dtype: 'float32' }), L.tensor([0], { dtype: 'int64' }));
        o.nextEpoch();
      }
      assertTensorClose(b.supervise, a.supervise, 0);
      assert.throws(() => b.loadStateDict({ ...a.stateDict(), counts: L.zeros([4]) }), /counts must have shape \[3\], got \[4\]/);
      a.dispose();
      b.dispose();
    });
  });
});
