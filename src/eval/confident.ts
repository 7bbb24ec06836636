// Disputed labels by confident learning (Northcutt, Jiang & Chuang 2021; cleanlab): from
// out-of-fold probabilities and the given labels, per-class thresholds, the confident joint, and the
// images whose confident assignment disagrees with their label. Plain numbers in, plain numbers out.

/** An image whose given label the out-of-fold probabilities dispute. */
export interface DisputedLabel {
  /** The image's row in the probabilities. */
  index: number;
  given: number;
  /** The class it was confidently counted in. */
  suggested: number;
  /** The out-of-fold probability of the suggested class. */
  confidence: number;
}

export interface ConfidentLearning {
  /** t_j: the mean probability of class j over the images labelled j (Infinity for a class no image is labelled). */
  thresholds: number[];
  /** C[i][j]: images labelled i confidently counted in class j (rows without a confident class are not counted). */
  joint: number[][];
  /** The off-diagonal images of the joint, most confident first (ties by row). */
  disputed: DisputedLabel[];
}

/**
 * Confident learning over `probs` (N rows of C probabilities, out of fold) and `labels` (N given
 * classes). t_j = mean p_j over the images labelled j; an image is counted in class
 * argmax{p_j : p_j ≥ t_j} over every class j, its own included (Northcutt et al.'s C̃ as cleanlab
 * computes it, ties to the larger probability, then the lower class). The rule implemented
 * is the paper's "C_confusion" off-diagonal rule, not cleanlab's default prune_by_noise_rate: every
 * image counted in a class other than its label is disputed, suggested that class. It needs no
 * noise-rate estimate, so its answer on a small set is the set itself, and it is what a reviewer
 * checks image by image; prune_by_noise_rate would keep, per (i, j), only the C[i][j] images with
 * the largest margin p_j − p_i, a subset of these.
 */
export function confidentLearning(probs: readonly (readonly number[])[], labels: readonly number[]): ConfidentLearning {
  if (probs.length !== labels.length) throw new Error(`confidentLearning: ${probs.length} rows of probabilities against ${labels.length} labels`);
  const classes = probs[0]?.length ?? 0;
  const thresholds = classThresholds(probs, labels, classes);
  const joint = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  const disputed: DisputedLabel[] = [];
  for (const [index, p] of probs.entries()) {
    const given = labels[index]!;
    const counted = confidentClass(p, thresholds);
    if (counted === null) continue;
    joint[given]![counted]!++;
    if (counted !== given) disputed.push({ index, given, suggested: counted, confidence: p[counted]! });
  }
  disputed.sort((a, b) => b.confidence - a.confidence || a.index - b.index);
  return { thresholds, joint, disputed };
}

/** t_j: the mean of p_j over the images labelled j. */
function classThresholds(probs: readonly (readonly number[])[], labels: readonly number[], classes: number): number[] {
  const sum = new Array<number>(classes).fill(0);
  const count = new Array<number>(classes).fill(0);
  for (const [i, p] of probs.entries()) {
    const l = labels[i]!;
    if (!(Number.isInteger(l) && l >= 0 && l < classes)) throw new Error(`confidentLearning: row ${i}'s label ${l} is not one of the ${classes} classes`);
    sum[l]! += p[l]!;
    count[l]!++;
  }
  // A class no image is labelled has no threshold: nothing is counted in it.
  return sum.map((s, j) => (count[j]! > 0 ? s / count[j]! : Number.POSITIVE_INFINITY));
}

/** The class with the largest probability among those at or above their threshold; null when none is. */
function confidentClass(p: readonly number[], thresholds: readonly number[]): number | null {
  let best: number | null = null;
  for (const [j, pj] of p.entries()) if (pj >= thresholds[j]! && (best === null || pj > p[best]!)) best = j;
  return best;
}

/** The disputed images against the ones known to be flipped (injected noise): precision and recall of the flagged set. */
export function flaggedAgainstFlips(
  flagged: readonly number[],
  flipped: readonly number[],
): { precision: number; recall: number; flagged: number; flipped: number; both: number } {
  const truth = new Set(flipped);
  const marked = new Set(flagged);
  const both = [...marked].filter((i) => truth.has(i)).length;
  const n = marked.size;
  // NaN where nothing was flagged (or flipped): no share to give, rather than a misleading 0 or 1.
  return { precision: n ? both / n : Number.NaN, recall: truth.size ? both / truth.size : Number.NaN, flagged: n, flipped: truth.size, both };
}
