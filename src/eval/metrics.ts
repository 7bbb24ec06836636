// Classification metrics from logits and labels: accuracy, top-k, NLL, expected calibration error
// with its reliability bins (Guo et al. 2017), per-class accuracy, confusions, and temperature
// scaling fitted on held-out logits. Inputs are tensors; results are plain numbers.
import { F, type Tensor, noGrad, tidy } from '../engine/index.js';
import { mostConfused } from './mistakes.js';

export interface ReliabilityBin {
  /** Bin bounds on the confidence (max probability). */
  lo: number;
  hi: number;
  count: number;
  /** Mean confidence and accuracy of the samples in the bin (0 when empty). */
  confidence: number;
  accuracy: number;
}

export interface Metrics {
  count: number;
  accuracy: number;
  top5: number;
  /** Mean negative log-likelihood of the true class. */
  nll: number;
  /** Expected calibration error: Σ_b (n_b / n)·|accuracy_b − confidence_b|, equal-width bins. */
  ece: number;
  bins: ReliabilityBin[];
}

/** Accuracy, top-5, NLL, ECE (15 bins by default) of logits [N, C] against labels [N]. */
export function classificationMetrics(logits: Tensor, labels: Tensor, o: { bins?: number; temperature?: number } = {}): Metrics {
  return tidy(() =>
    noGrad(() => {
      const n = logits.shape[0]!;
      if (n === 0) throw new Error('classificationMetrics: no samples');
      const scaled = o.temperature ? logits.div(o.temperature) : logits;
      const logProbs = F.logSoftmax(scaled.to('float64'), 1);
      const y = labels.to('int64');
      const nll = F.nllLoss(logProbs, y).item();
      const [conf, pred] = logProbs.exp().max(1);
      const correct = pred.eq(y);
      const k = Math.min(5, logits.shape[1]!);
      const top5 = logProbs.topk(k, 1)[1].eq(y.unsqueeze(1)).any(1).to('float64').mean().item();
      const bins = reliabilityBins(conf.toFlatArray(), correct.toFlatArray().map(Number), o.bins ?? 15);
      const ece = bins.reduce((s, b) => s + (b.count / n) * Math.abs(b.accuracy - b.confidence), 0);
      return { count: n, accuracy: correct.to('float64').mean().item(), top5, nll, ece, bins };
    }),
  );
}

/** Equal-width confidence bins (lo, hi], the first including 0. */
export function reliabilityBins(confidence: number[], correct: number[], bins: number): ReliabilityBin[] {
  const out: ReliabilityBin[] = Array.from({ length: bins }, (_, b) => ({ lo: b / bins, hi: (b + 1) / bins, count: 0, confidence: 0, accuracy: 0 }));
  confidence.forEach((c, i) => {
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(c * bins) - 1));
    const bin = out[b]!;
    bin.count++;
    bin.confidence += c;
    bin.accuracy += correct[i]!;
  });
  for (const b of out)
    if (b.count) {
      b.confidence /= b.count;
      b.accuracy /= b.count;
    }
  return out;
}

/**
 * The temperature T > 0 minimising the NLL of softmax(logits / T) (Guo et al.'s temperature
 * scaling, fitted on validation logits): a golden-section search on log T over [0.05, 20].
 */
export function fitTemperature(logits: Tensor, labels: Tensor): number {
  return tidy(() =>
    noGrad(() => {
      const z = logits.to('float64');
      const y = labels.to('int64');
      const nllAt = (t: number) => F.crossEntropy(z.div(t), y).item();
      let [a, b] = [Math.log(0.05), Math.log(20)];
      const g = (Math.sqrt(5) - 1) / 2;
      let c = b - g * (b - a);
      let d = a + g * (b - a);
      let fc = nllAt(Math.exp(c));
      let fd = nllAt(Math.exp(d));
      for (let i = 0; i < 60; i++) {
        if (fc < fd) {
          [b, d, fd] = [d, c, fc];
          c = b - g * (b - a);
          fc = nllAt(Math.exp(c));
        } else {
          [a, c, fc] = [c, d, fd];
          d = a + g * (b - a);
          fd = nllAt(Math.exp(d));
        }
      }
      return Math.exp((a + b) / 2);
    }),
  );
}

/** Accuracy of each class, and the most frequent (true, predicted) confusions. */
export function confusion(
  logits: Tensor,
  labels: Tensor,
  classes: number,
  top = 10,
): { perClass: number[]; matrix: number[][]; topConfusions: Array<{ truth: number; predicted: number; count: number }> } {
  const pred = tidy(() => logits.argmax(1).toFlatArray());
  const truth = labels.toFlatArray();
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (const [i, t] of truth.entries()) matrix[t]![pred[i]!]!++;
  const perClass = matrix.map((row, c) => {
    const n = row.reduce((a, b) => a + b, 0);
    return n ? row[c]! / n : NaN;
  });
  return { perClass, matrix, topConfusions: mostConfused(matrix, top) };
}
