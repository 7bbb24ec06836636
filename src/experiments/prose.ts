// The experiments' words: metrics formatted for tables, and the readings generated from the
// numbers, each saying whether the runs support, contradict or cannot tell a claim.
import type { PairedDifference, Spread } from '../eval/index.js';
import type { DistillationSetting, SeedDifference, SeedSummary } from './analysis.js';

/** The metrics a table prints: accuracy and ECE in points (or %), NLL to 4 places, the feature norm to 3. */
export type MetricName = SeedDifference['metric'] | 'calibratedEce';

/** A metric's value for a table: accuracy and ECE in points, the others as they are. */
export function formatMetric(metric: MetricName, v: number, signed = false): string {
  const points = metric === 'accuracy' || metric === 'ece' || metric === 'calibratedEce';
  const text = points ? (v * 100).toFixed(2) : v.toFixed(metric === 'featureNorm' ? 3 : 4);
  return `${signed && v >= 0 ? '+' : ''}${text}${points ? (signed ? ' pt' : '%') : ''}`;
}

/** "91.43% ± 0.24" over several seeds, "91.43%" over one. */
export function formatSpread(metric: MetricName, s: Spread): string {
  return s.n > 1 ? `${formatMetric(metric, s.mean)} ± ${formatMetric(metric, s.sd).replace('%', '')}` : formatMetric(metric, s.mean);
}

/** What a paired difference says about a claim that predicts its sign (claimSign). */
export function claimVerdict(d: PairedDifference, claimSign: 1 | -1, claim: string): string {
  if (d.ci === null) return `one seed cannot tell this from seed-to-seed variation, so it says nothing about ${claim}`;
  if (d.insideNoise) return `inside the noise: these runs neither support nor contradict ${claim}`;
  return Math.sign(d.mean) === claimSign ? `beyond the noise: these runs support ${claim}` : `beyond the noise, the other way: these runs contradict ${claim}`;
}

/** "3 seeds", "5 folds", "2 seeds × 5 folds": what a comparison's runs of a setting are, and its differences paired over. */
export function replicatesText(seeds: number, folds = 0): string {
  const s = `${seeds} seed${seeds === 1 ? '' : 's'}`;
  return folds >= 2 ? (seeds > 1 ? `${s} × ${folds} folds` : `${folds} folds`) : s;
}

/** "95% CI +0.10 pt to +0.30 pt over 3 seeds" (or "over 5 folds"), or "one seed, no interval". */
function interval(metric: MetricName, d: PairedDifference, seeds: number, folds = 0): string {
  return d.ci
    ? `95% CI ${formatMetric(metric, d.ci[0], true)} to ${formatMetric(metric, d.ci[1], true)} over ${replicatesText(seeds, folds)}`
    : 'one seed, no interval';
}

/**
 * What the runs show about the seed's claims, sentence by sentence, from their numbers: accuracy
 * (under label noise, robustness), calibration and the feature norm, each with its interval and
 * whether it is inside the noise of the seeds.
 */
export function readings(o: {
  labelNoise: number;
  seeds: readonly number[];
  /** --folds K: each seed's runs are K folds, the differences paired by (seed, fold). */
  folds?: number;
  aggregate: readonly SeedSummary[];
  differences: readonly SeedDifference[];
}): string[] {
  const out: string[] = [];
  const base = o.aggregate[0]!;
  const n = o.seeds.length;
  const folds = o.folds ?? 0;
  const of = (eps: number, metric: SeedDifference['metric']) => o.differences.find((d) => d.smoothing === eps && d.metric === metric)!;
  const mean = (metric: MetricName, s: Spread) => formatMetric(metric, s.mean);
  const within = (d: SeedDifference) => interval(d.metric, d.difference, n, folds);
  const verdict = (d: SeedDifference, claimSign: 1 | -1, claim: string) => claimVerdict(d.difference, claimSign, claim);
  for (const a of o.aggregate.slice(1)) {
    const eps = a.smoothing;
    const acc = of(eps, 'accuracy');
    const ece = of(eps, 'ece');
    const norm = of(eps, 'featureNorm');
    const noisy = o.labelNoise > 0;
    out.push(
      `${noisy ? `With ${(o.labelNoise * 100).toFixed(0)}% of the training labels replaced by other classes (${folds >= 2 ? 'the held-out folds carry the same replaced labels' : 'the validation labels are clean'}), ` : ''}` +
        `ε = ${eps} ${acc.difference.mean >= 0 ? 'raised' : 'lowered'} validation accuracy from ${mean('accuracy', base.accuracy)} to ${mean('accuracy', a.accuracy)} ` +
        `(${formatMetric('accuracy', acc.difference.mean, true)}, ${within(acc)}): ` +
        `${verdict(acc, 1, noisy ? 'the claim that label smoothing makes training robust to label noise' : 'a gain in accuracy from label smoothing')}.`,
    );
    out.push(
      `Its ECE went from ${mean('ece', base.ece)} to ${mean('ece', a.ece)} (${formatMetric('ece', ece.difference.mean, true)}, ${within(ece)}): ` +
        `${verdict(ece, -1, 'the claim that label smoothing improves calibration')}; after temperature scaling, ${mean('calibratedEce', base.calibratedEce)} against ${mean('calibratedEce', a.calibratedEce)}.`,
    );
    out.push(
      `The mean penultimate feature norm went from ${mean('featureNorm', base.featureNorm)} to ${mean('featureNorm', a.featureNorm)} ` +
        `(${formatMetric('featureNorm', norm.difference.mean, true)}, ${within(norm)}): ${verdict(norm, -1, "Müller et al.'s observation that label smoothing lowers it")}.`,
    );
  }
  return out;
}

/** A difference in words: its mean, 95% interval and whether it is inside the noise. */
export function describeDifference(d: SeedDifference, over = `${d.difference.n} seeds`): string {
  const f = (v: number) => formatMetric(d.metric, v, true);
  const ci = d.difference.ci ? ` (95% CI ${f(d.difference.ci[0])} to ${f(d.difference.ci[1])}, ${over})` : ' (one seed: no interval)';
  return `${f(d.difference.mean)}${ci}: ${d.difference.insideNoise ? 'inside the noise' : 'beyond the noise'}`;
}

/**
 * What a distillation shows: the smoothed teacher's accuracy against the hard-label one's, then
 * their students', with the students' paired difference read against Müller et al.'s claim that a
 * label-smoothed teacher makes a worse student.
 */
export function distillationReading(o: {
  smoothing: number;
  seeds: readonly number[];
  settings: readonly DistillationSetting[];
  teacherDifference: PairedDifference;
  studentDifference: PairedDifference;
}): string {
  const accuracy = (role: DistillationSetting['role'], eps: number) =>
    formatSpread('accuracy', o.settings.find((s) => s.role === role && s.smoothing === eps)!.accuracy);
  const n = o.seeds.length;
  const t = o.teacherDifference;
  const s = o.studentDifference;
  return (
    `The smoothed teacher (ε = ${o.smoothing}) reached ${accuracy('teacher', o.smoothing)} against ${accuracy('teacher', 0)} for the hard-label one ` +
    `(${formatMetric('accuracy', t.mean, true)}, ${interval('accuracy', t, n)}). ` +
    `Its student reached ${accuracy('student', o.smoothing)} against ${accuracy('student', 0)} for the hard-label teacher's student ` +
    `(${formatMetric('accuracy', s.mean, true)}, ${interval('accuracy', s, n)}): ` +
    `${claimVerdict(s, -1, 'the claim (Müller et al. 2019) that a label-smoothed teacher makes a worse student')}.`
  );
}
