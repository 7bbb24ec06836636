// Confident learning on hand-made probability matrices whose thresholds, joint and disputed
// images are worked out by hand below; precision and recall of a flagged set against known flips.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluation } from '../src/index.js';
import { assertClose } from './helpers.js';

test('thresholds, confident joint and disputed labels of a 3-class matrix, worked by hand', () => {
  const probs = [
    [0.9, 0.05, 0.05], // 0: labelled 0, counted 0
    [0.8, 0.1, 0.1], // 1: labelled 0, counted 0
    [0.1, 0.8, 0.1], // 2: labelled 0, p1 = 0.8 ≥ t1 = 0.8: counted 1, disputed
    [0.1, 0.8, 0.1], // 3: labelled 1, counted 1
    [0.2, 0.7, 0.1], // 4: labelled 1, no class at its threshold: not counted
    [0.1, 0.9, 0], // 5: labelled 1, counted 1
    [0.05, 0.05, 0.9], // 6: labelled 2, counted 2
    [0.1, 0.1, 0.8], // 7: labelled 2, counted 2
    [0.7, 0.1, 0.2], // 8: labelled 2, p0 = 0.7 ≥ t0 = 0.6: counted 0, disputed
  ];
  const labels = [0, 0, 0, 1, 1, 1, 2, 2, 2];
  const r = evaluation.confidentLearning(probs, labels);
  // t_j: the mean p_j over the images labelled j (not over every image: t0 would be 0.3389).
  assertClose(r.thresholds, [(0.9 + 0.8 + 0.1) / 3, (0.8 + 0.7 + 0.9) / 3, (0.9 + 0.8 + 0.2) / 3], 1e-12);
  assert.deepEqual(r.joint, [
    [2, 1, 0],
    [0, 2, 0],
    [1, 0, 2],
  ]);
  assert.deepEqual(r.disputed, [
    { index: 2, given: 0, suggested: 1, confidence: 0.8 },
    { index: 8, given: 2, suggested: 0, confidence: 0.7 },
  ]);
});

test('several classes at their thresholds: the most probable one counts, the label included; a class nobody is labelled takes nobody', () => {
  // t0 = (0.65 + 0.1 + 0.55) / 3 = 0.433, t1 = (0.9 + 0.7 + 0.81) / 3 = 0.803; no image is labelled 2.
  const probs = [
    [0.65, 0.3, 0.05], // labelled 0: only class 0 at its threshold → 0
    [0.1, 0.85, 0.05], // labelled 0, p0 below: counted 1, disputed (0.85)
    [0.55, 0.44, 0.01], // labelled 0: p0 ≥ t0 → 0
    [0.1, 0.9, 0], // labelled 1 → 1
    [0.61, 0.7, 0.99], // labelled 1: p0 ≥ t0 but p1 < t1 and class 2 takes nobody → counted 0 (0.61)
    [0.62, 0.81, 0], // labelled 1: classes 0 and 1 at their thresholds, 1 the larger → 1
  ];
  const labels = [0, 0, 0, 1, 1, 1];
  const r = evaluation.confidentLearning(probs, labels);
  assertClose(r.thresholds.slice(0, 2), [(0.65 + 0.1 + 0.55) / 3, (0.9 + 0.7 + 0.81) / 3], 1e-12);
  assert.equal(r.thresholds[2], Number.POSITIVE_INFINITY);
  assert.deepEqual(
    r.disputed.map((d) => [d.index, d.given, d.suggested]),
    [
      [1, 0, 1],
      [4, 1, 0],
    ],
  );
  assert.deepEqual(r.joint, [
    [2, 1, 0],
    [1, 2, 0],
    [0, 0, 0],
  ]);
  assert.throws(() => evaluation.confidentLearning([[0.5, 0.5]], [2]), /row 0's label 2 is not one of the 2 classes/);
});

test('precision and recall of the flagged images against the flipped ones', () => {
  const r = evaluation.flaggedAgainstFlips([2, 8, 5], [2, 8, 1, 9]);
  assert.deepEqual(r, { precision: 2 / 3, recall: 2 / 4, flagged: 3, flipped: 4, both: 2 });
  assert.ok(Number.isNaN(evaluation.flaggedAgainstFlips([], [1]).precision));
});
