// Seeded splits that keep each class's share: train/val by fraction, k-fold assignment, and a
// per-class subset for quick runs. Inputs are class indices per sample; outputs are sample indices.
import { Rng } from './rng.js';

function byClass(labels: readonly number[]): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  labels.forEach((c, i) => {
    const g = groups.get(c);
    if (g) g.push(i);
    else groups.set(c, [i]);
  });
  return new Map([...groups].sort(([a], [b]) => a - b));
}

/**
 * Each class's samples shuffled by `seed`, round(n·valFraction) of them to val (at least one
 * when the class has two or more samples and the fraction is positive).
 */
export function stratifiedSplit(labels: readonly number[], valFraction: number, seed: number): { train: number[]; val: number[] } {
  if (!(valFraction >= 0 && valFraction < 1)) throw new Error(`stratifiedSplit: valFraction must be in [0, 1), got ${valFraction}`);
  const train: number[] = [];
  const val: number[] = [];
  for (const [c, members] of byClass(labels)) {
    const shuffled = new Rng(seed, 0x5711, c).shuffle([...members]);
    let k = Math.round(shuffled.length * valFraction);
    if (valFraction > 0 && k === 0 && shuffled.length >= 2) k = 1;
    val.push(...shuffled.slice(0, k));
    train.push(...shuffled.slice(k));
  }
  return { train: train.sort((a, b) => a - b), val: val.sort((a, b) => a - b) };
}

/** The fold (0..k−1) of every sample, each class dealt round-robin over the folds after a seeded shuffle. */
export function kFold(labels: readonly number[], k: number, seed: number): number[] {
  if (!Number.isInteger(k) || k < 2) throw new Error(`kFold: k must be an integer ≥ 2, got ${k}`);
  const fold = new Array<number>(labels.length);
  let offset = 0;
  for (const [c, members] of byClass(labels)) {
    for (const [j, i] of new Rng(seed, 0xf01d, c).shuffle([...members]).entries()) fold[i] = (j + offset) % k;
    offset += members.length; // spreads small classes' remainders over different folds
  }
  return fold;
}

/** At most `perClass` samples of each class, chosen by `seed`. */
export function perClassSubset(labels: readonly number[], perClass: number, seed: number): number[] {
  const out: number[] = [];
  for (const [c, members] of byClass(labels)) out.push(...new Rng(seed, 0x5b5e7, c).shuffle([...members]).slice(0, perClass));
  return out.sort((a, b) => a - b);
}
