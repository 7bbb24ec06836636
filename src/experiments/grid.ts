// What every experiment shares: its options, its --out locked for its life, its lines on rank 0,
// and the one loop: every setting trained once per seed, seed by seed (within a seed the settings
// share initial weights, split and batch order), each seed's runs in a folder of their own when
// there are several. compare and distill both run their grid through it.
import { join } from 'node:path';
import type { DistContext } from '../distributed/index.js';
import { BadInputError } from '../engine/index.js';
import { withFolderLock } from '../io/index.js';

/** The options compare and distill share. */
export interface ExperimentOptions {
  /** Each setting trained once per seed (default: the config's seed alone). With several, each seed's runs go under OUT/seed-S/. */
  seeds?: number[];
  /** Where the experiment's lines go (stderr by default). */
  log?: (line: string) => void;
  /** A TTY progress bar redrawn in place (default: process.stderr.isTTY). */
  tty?: boolean;
  /** Stop (checkpointed) when aborted: the experiment then throws. */
  signal?: AbortSignal;
  /** The report's title. */
  title?: string;
  /** This process's place in a data-parallel run: every rank trains and measures, rank 0 alone logs and writes the report. */
  dist?: DistContext | null;
  /** Start afresh runs whose folders already hold one (otherwise an error). */
  overwrite?: boolean;
}

const stderrLine = (line: string) => process.stderr.write(`${line}\n`);

/** The experiment's lines: to `log` (stderr by default) on rank 0, nowhere on the other ranks. */
export function experimentLog(o: ExperimentOptions): (line: string) => void {
  return !o.dist || o.dist.rank === 0 ? (o.log ?? stderrLine) : () => {};
}

/**
 * Runs `fn` with `out` locked by rank 0 for the experiment's life (each run also locks its own
 * folder): two experiments into one folder would mix their runs and reports.
 */
export async function withExperimentLock<T>(out: string, o: ExperimentOptions, fn: () => Promise<T>): Promise<T> {
  if (o.dist && o.dist.rank !== 0) return fn();
  return withFolderLock(out, `--out ${out}`, o.log ?? stderrLine, fn);
}

/** One run of the grid: which seed, fold and setting, and where the seed's runs go. */
export interface GridCell<S> {
  seed: number;
  /** The fold the run holds out (--folds K), or null without cross-validation. */
  fold: number | null;
  setting: S;
  /** The seed's folder: `out` with one seed, `out/seed-S` with several. */
  dir: string;
  /** ", seed S" with several seeds, "" with one, then ", fold k" with folds: for log lines and messages. */
  seedNote: string;
}

/**
 * Refuses an empty list or a value given twice (each value is a run folder: a second one would
 * find the first's taken), naming the option: "--seeds must name distinct seeds, got 1,1".
 */
export function refuseRepeats(values: readonly number[], option: string, noun: string): void {
  if (values.length === 0 || new Set(values).size !== values.length) throw new BadInputError(`${option} must name distinct ${noun}, got ${values.join(',')}`);
}

/**
 * Runs `run` for each seed × fold × setting (folds: 0 … K−1 with `o.folds` K, else one cell with
 * fold null), seeds outermost, one at a time, and returns what each returned in that order. A fold
 * is a replicate like a seed: within it the settings share initial weights, data and batches, so
 * their differences pair by (seed, fold). With several seeds each seed's runs go under `out/seed-S`.
 */
export async function runGrid<S, R>(
  out: string,
  seeds: readonly number[],
  settings: readonly S[],
  run: (cell: GridCell<S>) => Promise<R>,
  o: { folds?: number } = {},
): Promise<R[]> {
  refuseRepeats(seeds, '--seeds', 'seeds');
  const multi = seeds.length > 1;
  const folds = o.folds && o.folds >= 2 ? Array.from({ length: o.folds }, (_, k) => k) : [null];
  const results: R[] = [];
  for (const seed of seeds)
    for (const fold of folds)
      for (const setting of settings)
        results.push(
          await run({
            seed,
            fold,
            setting,
            dir: multi ? join(out, `seed-${seed}`) : out,
            seedNote: `${multi ? `, seed ${seed}` : ''}${fold === null ? '' : `, fold ${fold}`}`,
          }),
        );
  return results;
}
