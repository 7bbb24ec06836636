// Metrics, calibration and the penultimate-layer picture against hand-computed values.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { evaluation } from '../src/index.js';
import { accuracyCurves, render } from '../src/report/index.js';
import { assertClose } from './helpers.js';

/** Two-class logits whose softmax puts probability p on class 0. */
const logitsFor = (ps: number[]) =>
  L.tensor(
    ps.map((p) => [Math.log(p), Math.log(1 - p)]),
    { dtype: 'float64' },
  );

test('accuracy, NLL and ECE (equal-width bins) by hand', () => {
  L.tidy(() => {
    const logits = logitsFor([0.93, 0.77, 0.62, 0.57]);
    const labels = L.tensor([0, 1, 0, 0], { dtype: 'int64' });
    const m = evaluation.classificationMetrics(logits, labels, { bins: 10 });
    assert.equal(m.accuracy, 0.75);
    assert.equal(m.top5, 1);
    assertClose(m.nll, -(Math.log(0.93) + Math.log(0.23) + Math.log(0.62) + Math.log(0.57)) / 4, 1e-12);
    assertClose(m.ece, (0.07 + 0.77 + 0.38 + 0.43) / 4, 1e-12);
    assert.deepEqual(
      m.bins.map((b) => b.count),
      [0, 0, 0, 0, 0, 1, 1, 1, 0, 1],
    );
  });
});

test('temperature scaling finds T = d / logit(q) for a two-class problem', () => {
  L.tidy(() => {
    const logits = L.tensor(
      [
        [4, 0],
        [4, 0],
        [4, 0],
        [4, 0],
      ],
      { dtype: 'float64' },
    );
    const labels = L.tensor([0, 0, 0, 1], { dtype: 'int64' });
    assertClose(evaluation.fitTemperature(logits, labels), 4 / Math.log(3), 1e-6);
    const before = evaluation.classificationMetrics(logits, labels).ece;
    const after = evaluation.classificationMetrics(logits, labels, { temperature: 4 / Math.log(3) }).ece;
    assert.ok(after < before && after < 1e-6, `${before} → ${after}`);
  });
});

test('confusions, per-class accuracy and the choice of three classes', () => {
  L.tidy(() => {
    // truth 0 → predicted 1 twice; truth 1 → 0 once; truth 2 → 0 once; class 3 → 2 once
    const logits = L.F.oneHot(L.tensor([1, 1, 0, 0, 1, 0, 2, 3, 2], { dtype: 'int64' }), 4).to('float64');
    const labels = L.tensor([0, 0, 0, 1, 1, 2, 2, 3, 3], { dtype: 'int64' });
    const c = evaluation.confusion(logits, labels, 4);
    assertClose(c.perClass, [1 / 3, 1 / 2, 1 / 2, 1 / 2], 1e-12);
    assert.deepEqual(c.topConfusions[0], { truth: 0, predicted: 1, count: 2 });
    assert.deepEqual(evaluation.chooseProjectionClasses(c.matrix), [0, 1, 3]);
  });
});

test('the projection puts template a at the origin, b on the first axis, c in the plane', () => {
  L.tidy(() => {
    const w = L.tensor(
      [
        [1, 0, 0],
        [3, 0, 0],
        [1, 2, 0],
        [0, 0, 9],
      ],
      { dtype: 'float64' },
    );
    const f = L.tensor(
      [
        [2, 1, 5],
        [0, 0, 0],
        [7, 7, 7],
      ],
      { dtype: 'float64' },
    );
    const p = evaluation.templateProjection(w, f, L.tensor([0, 2, 3], { dtype: 'int64' }), [0, 1, 2]);
    assert.deepEqual(p.templates, [
      [0, 0],
      [2, 0],
      [0, 2],
    ]);
    assert.deepEqual(p.points, [
      { x: 1, y: 1, label: 0 },
      { x: -1, y: 0, label: 2 },
    ]); // class 3 is left out
    assertClose(
      evaluation.meanFeatureNorm(
        L.tensor([
          [3, 4],
          [0, 1],
        ]),
      ),
      3,
      1e-12,
    );
    assert.throws(() => evaluation.templateProjection(w, f, L.tensor([0, 0, 0], { dtype: 'int64' }), [0, 1, 1]), /collinear/);
  });
});

test('the accuracy figure dashes the training curves, as its caption says, not the validation ones', async () => {
  const svg = async (split: 'train' | 'val') =>
    (await render(accuracyCurves([1, 2].map((epoch) => ({ setting: '0', epoch, split, accuracy: 0.5 + epoch / 10 }))))).svg;
  // The plotted line: the first mark-line group (the legend's dash samples come after it).
  const dashed = (s: string) => /stroke-dasharray="5,3"/.test(/<g class="mark-line[^"]*"[\s\S]*?<\/g>/.exec(s)?.[0] ?? assert.fail('no line mark'));
  assert.ok(dashed(await svg('train')), 'train is dashed');
  assert.ok(!dashed(await svg('val')), 'val is solid');
});

describe('statistics over seeds', () => {
  test('mean, sample sd, and a paired difference with its Student-t 95% interval', () => {
    assert.deepEqual(evaluation.spread([2]), { mean: 2, sd: 0, n: 1 });
    const s = evaluation.spread([1, 2, 3, 4]);
    assertClose([s.mean, s.sd], [2.5, Math.sqrt(5 / 3)], 1e-12);
    // b − a = [1, 2, 3]: mean 2, sd 1, half-width t(0.975, 2) · 1/√3 = 4.303/√3.
    const d = evaluation.pairedDifference([10, 10, 10], [11, 12, 13]);
    assertClose([d.mean, d.sd, d.ci![0], d.ci![1]], [2, 1, 2 - 4.303 / Math.sqrt(3), 2 + 4.303 / Math.sqrt(3)], 1e-12);
    assert.equal(d.insideNoise, true);
    const clear = evaluation.pairedDifference([0.5, 0.6, 0.7, 0.8], [0.6, 0.71, 0.8, 0.91]);
    assert.equal(clear.insideNoise, false);
    assert.equal(evaluation.pairedDifference([1], [2]).ci, null);
    assert.throws(() => evaluation.pairedDifference([1, 2], [1]), /2 values against 1/);
  });
});
