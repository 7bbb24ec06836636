// The penultimate-layer picture of Müller, Kornblith & Hinton (2019): activations of three
// classes projected onto the plane through their last-layer templates, and feature norms.
import { type Tensor, noGrad, tidy } from '../engine/index.js';

const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
const sub = (a: number[], b: number[]) => a.map((v, i) => v - b[i]!);
const scale = (a: number[], k: number) => a.map((v) => v * k);
const norm = (a: number[]) => Math.sqrt(dot(a, a));

export interface Projection {
  classes: [number, number, number];
  /** Orthonormal basis (e1, e2) of the plane through the three templates. */
  basis: [number[], number[]];
  /** The templates' own coordinates in the plane: a at the origin, b on the first axis. */
  templates: Array<[number, number]>;
  /** Each projected activation: its coordinates and its class. */
  points: Array<{ x: number; y: number; label: number }>;
}

/**
 * Projects penultimate activations of the three classes onto the affine plane through their
 * templates (rows of the classifier's weight): origin at template a, e1 towards b, e2 the
 * Gram–Schmidt direction towards c.
 */
export function templateProjection(weight: Tensor, features: Tensor, labels: Tensor, classes: [number, number, number]): Projection {
  const w = tidy(() => weight.to('float64').toArray() as number[][]);
  const [a, b, c] = classes.map((k) => {
    const row = w[k];
    if (!row) throw new Error(`templateProjection: no class ${k} (the classifier has ${w.length})`);
    return row;
  }) as [number[], number[], number[]];
  const ab = sub(b, a);
  if (norm(ab) === 0) throw new Error('templateProjection: the templates of the first two classes coincide');
  const e1 = scale(ab, 1 / norm(ab));
  const ac = sub(c, a);
  const perp = sub(ac, scale(e1, dot(ac, e1)));
  if (norm(perp) < 1e-12) throw new Error('templateProjection: the three templates are collinear');
  const e2 = scale(perp, 1 / norm(perp));
  const coords = (v: number[]): [number, number] => {
    const d = sub(v, a);
    return [dot(d, e1), dot(d, e2)];
  };
  const feats = tidy(() => features.to('float64').toArray() as number[][]);
  const ys = labels.toFlatArray();
  const points = feats.flatMap((f, i) => (classes.includes(ys[i]!) ? [{ x: coords(f)[0], y: coords(f)[1], label: ys[i]! }] : []));
  return { classes, basis: [e1, e2], templates: [coords(a), coords(b), coords(c)], points };
}

/**
 * Three classes for the picture, from a confusion matrix: the pair confused most often (both
 * directions), then the class confused least with either of them.
 */
export function chooseProjectionClasses(matrix: number[][]): [number, number, number] {
  const n = matrix.length;
  if (n < 3) throw new Error(`chooseProjectionClasses: needs at least 3 classes, got ${n}`);
  let best: [number, number] = [0, 1];
  let most = -1;
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const m = matrix[i]![j]! + matrix[j]![i]!;
      if (m > most) [most, best] = [m, [i, j]];
    }
  let far = -1;
  let least = Infinity;
  for (let k = 0; k < n; k++) {
    if (k === best[0] || k === best[1]) continue;
    const m = matrix[k]![best[0]]! + matrix[best[0]]![k]! + matrix[k]![best[1]]! + matrix[best[1]]![k]!;
    if (m < least) [least, far] = [m, k];
  }
  return [best[0], best[1], far];
}

/** Mean L2 norm of the rows of a feature matrix [N, D]. */
export function meanFeatureNorm(features: Tensor): number {
  return tidy(() => noGrad(() => features.to('float64').norm(2, 1).mean().item()));
}
