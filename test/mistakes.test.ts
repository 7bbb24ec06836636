// The pictures of the mistakes choose their images by hand-checkable rules: predictions from logits,
// the most confidently wrong (never a right one), the same images under another model by name (not
// by position), the most-confused pairs and a heatmap's cells against the confusion matrix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { data, evaluation, tensor } from '../src/index.js';
import { assertClose } from './helpers.js';

const p = (image: string, label: number, predicted: number, confidence: number): evaluation.ImagePrediction => ({ image, label, predicted, confidence });

test('imagePredictions: each row its argmax class and that class’s softmax probability, named by the row', () => {
  const logits = tensor([
    [2, 0, 0],
    [0, 1, 3],
    [1, 1, 0], // a tie: the first class, as argmax picks it
  ]);
  const labels = tensor([0n, 1n, 2n]);
  const got = evaluation.imagePredictions(logits, labels, ['a', 'b', 'c']);
  assert.deepEqual(
    got.map((g) => [g.image, g.label, g.predicted]),
    [
      ['a', 0, 0],
      ['b', 1, 2],
      ['c', 2, 0],
    ],
  );
  const softmax = (row: number[], k: number) => Math.exp(row[k]!) / row.reduce((s, v) => s + Math.exp(v), 0);
  assertClose(
    got.map((g) => g.confidence),
    [softmax([2, 0, 0], 0), softmax([0, 1, 3], 2), softmax([1, 1, 0], 0)],
    1e-6,
  );
  assert.throws(() => evaluation.imagePredictions(logits, labels, ['a', 'b']), /3 rows of logits, 3 labels and 2 image names/);
  logits.dispose();
  labels.dispose();
});

test('confidentMistakes: wrong predictions only, most confident first, ties in list order, at most n', () => {
  const preds = [
    p('right-but-sure', 0, 0, 0.99), // correct: never shown, however confident
    p('w1', 1, 0, 0.6),
    p('w2', 2, 1, 0.9),
    p('w3', 0, 2, 0.6), // ties with w1: after it (list order)
    p('w4', 1, 2, 0.75),
    p('right', 2, 2, 0.95),
  ];
  assert.deepEqual(
    evaluation.confidentMistakes(preds, 10).map((m) => m.image),
    ['w2', 'w4', 'w1', 'w3'],
  );
  assert.deepEqual(
    evaluation.confidentMistakes(preds, 2).map((m) => m.image),
    ['w2', 'w4'],
  );
  assert.deepEqual(evaluation.confidentMistakes(preds, 0), []);
  assert.deepEqual(evaluation.confidentMistakes([p('ok', 1, 1, 0.5)], 5), []);
});

test('sameImages: each chosen image’s prediction under every run, matched by name whatever the order', () => {
  const eps0 = [p('x', 0, 1, 0.9), p('y', 1, 0, 0.8), p('z', 2, 2, 0.7)];
  // The other run lists the images in another order and lacks one.
  const eps1 = [p('z', 2, 0, 0.4), p('x', 0, 0, 0.55)];
  const chosen = evaluation.confidentMistakes(eps0, 5).map((m) => m.image);
  assert.deepEqual(chosen, ['x', 'y']);
  const rows = evaluation.sameImages(chosen, [eps0, eps1]);
  assert.deepEqual(rows, [
    [eps0[0], eps1[1]],
    [eps0[1], null],
  ]);
  // Under ε1 image x is right: the pairing shows what the other model made of the same picture.
  assert.equal(rows[0]![1]!.predicted, rows[0]![1]!.label);
});

test('mostConfused and confusionCells agree with the confusion matrix of the same logits', () => {
  // 4 classes; labels and predictions chosen so that (2 → 1) happens 3 times, (0 → 3) and (3 → 0) twice, (1 → 2) once.
  const truth = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3];
  const pred = [0, 3, 3, 0, 1, 2, 1, 1, 1, 1, 2, 0, 0, 3];
  const logits = tensor(pred.map((k) => [0, 1, 2, 3].map((j) => (j === k ? 5 : 0))));
  const labels = tensor(truth.map(BigInt));
  const { matrix, topConfusions } = evaluation.confusion(logits, labels, 4);
  logits.dispose();
  labels.dispose();
  const pairs = evaluation.mostConfused(matrix);
  assert.deepEqual(pairs, [
    { truth: 2, predicted: 1, count: 3 },
    { truth: 0, predicted: 3, count: 2 },
    { truth: 3, predicted: 0, count: 2 },
    { truth: 1, predicted: 2, count: 1 },
  ]);
  assert.deepEqual(evaluation.mostConfused(matrix, 2), pairs.slice(0, 2));
  assert.deepEqual(evaluation.mostConfused(matrix, 10, 2), pairs.slice(0, 3));
  assert.deepEqual(topConfusions, pairs);
  const cells = evaluation.confusionCells(matrix);
  assert.equal(cells.length, 16);
  // Every cell's count is the matrix's, every row's shares sum to 1, and the counts sum to the images.
  for (const c of cells) {
    assert.equal(c.count, matrix[c.truth]![c.predicted]!);
    const row = truth.filter((t) => t === c.truth).length;
    assertClose([c.rate], [c.count / row], 1e-12);
  }
  assert.equal(
    cells.reduce((s, c) => s + c.count, 0),
    truth.length,
  );
  assert.deepEqual(
    cells.filter((c) => c.truth === 2).map((c) => c.count),
    [0, 3, 1, 0],
  );
  // A class with no images: shares 0, not NaN.
  assert.deepEqual(
    evaluation
      .confusionCells([
        [0, 0],
        [1, 1],
      ])
      .map((c) => c.rate),
    [0, 0, 0.5, 0.5],
  );
});

test('thumbnailPng: a 28² grey image enlarged ×2 nearest-neighbour, a large one shrunk to fit, aspect kept', async () => {
  const pixels = new Uint8Array(28 * 28).map((_, i) => (i % 2 ? 255 : 0));
  const small = await data.thumbnailPng({ data: pixels, width: 28, height: 28, channels: 1 }, 64);
  assert.deepEqual([small.width, small.height], [56, 56]);
  const grey = await sharp(small.png).metadata();
  assert.deepEqual([grey.format, grey.width, grey.height, grey.channels], ['png', 56, 56, 1]);
  const raw = await sharp(small.png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  // Nearest-neighbour: each source pixel a 2×2 block of the same value.
  assert.deepEqual([raw.data[0], raw.data[1], raw.data[2], raw.data[3], raw.data[56], raw.data[58]], [0, 0, 255, 255, 0, 255]);
  const big = await data.thumbnailPng({ data: new Uint8Array(200 * 100 * 3).fill(128), width: 200, height: 100, channels: 3 }, 64);
  assert.deepEqual([big.width, big.height], [64, 32]);
  const meta = await sharp(big.png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 64, 32]);
});
