// Pictures of the mistakes, after fastai's plot_top_losses and most_confused: each image's
// prediction (class and its probability), the most confidently wrong images, the same images under
// other models, the most-confused (true, predicted) pairs and a confusion matrix's cells for a
// heatmap. Logits in once, plain numbers out.
import { type Tensor, noGrad, tidy } from '../engine/index.js';

/** One image as a model predicted it. */
export interface ImagePrediction {
  /** The image's name in its dataset (the key that pairs it across models). */
  image: string;
  /** Its label (the class index it is scored against). */
  label: number;
  /** The class of largest probability. */
  predicted: number;
  /** That class's softmax probability. */
  confidence: number;
}

/** A (true, predicted) pair of classes and how many images it holds. */
export interface ConfusedPair {
  truth: number;
  predicted: number;
  count: number;
}

/** A confusion matrix's cell: its count and its share of the true class's images (0 for a class with none). */
export interface ConfusionCell extends ConfusedPair {
  rate: number;
}

/** Each row's prediction from logits [N, C] and labels [N]; `images[r]` names row r. */
export function imagePredictions(logits: Tensor, labels: Tensor, images: readonly string[]): ImagePrediction[] {
  const [n, classes] = logits.shape as [number, number];
  if (images.length !== n || labels.shape[0] !== n)
    throw new Error(`imagePredictions: ${n} rows of logits, ${labels.shape[0]} labels and ${images.length} image names`);
  const probs = tidy(() => noGrad(() => logits.to('float64').softmax(1).toFlatArray()));
  const truth = labels.toFlatArray();
  return images.map((image, r) => {
    // The first class of largest probability, as argmax picks it.
    let predicted = 0;
    for (let j = 1; j < classes; j++) if (probs[r * classes + j]! > probs[r * classes + predicted]!) predicted = j;
    return { image, label: truth[r]!, predicted, confidence: probs[r * classes + predicted]! };
  });
}

/**
 * The `n` most confidently wrong predictions (the largest probability on a wrong class): predicted ≠
 * label, largest confidence first, ties in the list's order. Correct predictions are never included.
 */
export function confidentMistakes(predictions: readonly ImagePrediction[], n: number): ImagePrediction[] {
  return predictions
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => p.predicted !== p.label)
    .sort((a, b) => b.p.confidence - a.p.confidence || a.i - b.i)
    .slice(0, Math.max(0, n))
    .map(({ p }) => p);
}

/**
 * The same images under each of `runs`: row k holds, run by run, the prediction of `images[k]`
 * (matched by name, not position), or null where that run did not predict it.
 */
export function sameImages(images: readonly string[], runs: readonly (readonly ImagePrediction[])[]): Array<Array<ImagePrediction | null>> {
  const byName = runs.map((r) => new Map(r.map((p) => [p.image, p])));
  return images.map((image) => byName.map((m) => m.get(image) ?? null));
}

/** The off-diagonal cells of `matrix` (true × predicted) with at least `minCount` images, most first, ties by true then predicted class; at most `n`. */
export function mostConfused(matrix: readonly (readonly number[])[], n = Number.POSITIVE_INFINITY, minCount = 1): ConfusedPair[] {
  const pairs: ConfusedPair[] = [];
  for (const [truth, row] of matrix.entries())
    for (const [predicted, count] of row.entries()) if (truth !== predicted && count >= minCount && count > 0) pairs.push({ truth, predicted, count });
  pairs.sort((x, y) => y.count - x.count || x.truth - y.truth || x.predicted - y.predicted);
  return pairs.slice(0, n);
}

/** Every cell of `matrix`, row by row, with its count and its share of its row (a heatmap's marks). */
export function confusionCells(matrix: readonly (readonly number[])[]): ConfusionCell[] {
  return matrix.flatMap((row, truth) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((count, predicted) => ({ truth, predicted, count, rate: total ? count / total : 0 }));
  });
}
