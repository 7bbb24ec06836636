// Numbers over seeds: mean and sample standard deviation, and a paired difference with its
// Student-t confidence interval, so that a comparison says when a difference is inside the noise.

/** Two-sided 95% quantiles of Student's t, by degrees of freedom 1–30 (beyond: the normal's 1.96). */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069,
  2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export interface Spread {
  mean: number;
  /** Sample standard deviation (n − 1); 0 for one value. */
  sd: number;
  n: number;
}

export function spread(values: readonly number[]): Spread {
  const n = values.length;
  if (n === 0) throw new Error('spread: no values');
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}

export interface PairedDifference extends Spread {
  /** The 95% confidence interval of the mean difference (Student's t, n − 1 degrees of freedom); null for one pair. */
  ci: [number, number] | null;
  /** The interval holds 0 (or there is one pair): the data cannot tell the two apart. */
  insideNoise: boolean;
}

/** b − a, pair by pair (the same seed in both), with the mean difference's 95% interval. */
export function pairedDifference(a: readonly number[], b: readonly number[]): PairedDifference {
  if (a.length !== b.length) throw new Error(`pairedDifference: ${a.length} values against ${b.length}`);
  const s = spread(b.map((v, i) => v - a[i]!));
  if (s.n < 2) return { ...s, ci: null, insideNoise: true };
  const half = (T975[s.n - 2] ?? 1.96) * (s.sd / Math.sqrt(s.n));
  const ci: [number, number] = [s.mean - half, s.mean + half];
  return { ...s, ci, insideNoise: ci[0] <= 0 && ci[1] >= 0 };
}

/** The half-width of a 95% normal-approximation interval of an accuracy p measured on n images. */
export function binomialHalfWidth(p: number, n: number): number {
  return n > 0 ? 1.96 * Math.sqrt(Math.max(p * (1 - p), 0.25 / n) / n) : 1;
}

/** Per position (epoch), the mean over runs (seeds) of equally long series, with a band of ± one sample sd. */
export function seedBand(runs: readonly (readonly number[])[]): Array<{ mean: number; lo: number; hi: number }> {
  return runs[0]!.map((_, e) => {
    const s = spread(runs.map((r) => r[e]!));
    return { mean: s.mean, lo: s.mean - s.sd, hi: s.mean + s.sd };
  });
}
