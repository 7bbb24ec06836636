// The distillation caveat (Müller et al. 2019): a teacher trained with hard labels and one trained
// with label smoothing, each distilled into the same student; the smoothed teacher, though often
// the more accurate, tends to give the worse student.
import { join } from 'node:path';
import { BadInputError, checkRange } from '../engine/index.js';
import { type TrainConfig, type TrainResult, train } from '../train/index.js';
import { type DistillationRun, type DistillationSetting, summariseDistillation } from './analysis.js';
import { writeDistillationReport } from './distill-report.js';
import { type ExperimentOptions, experimentLog, refuseRepeats, runGrid, withExperimentLock } from './grid.js';
import { distillationReading } from './prose.js';
import type { PairedDifference } from '../eval/index.js';

/** `lsr distill`'s defaults: the distillation term's temperature T and weight β. */
export const DISTILL_DEFAULTS = { temperature: 4, beta: 0.5 } as const;

export interface DistillOptions extends ExperimentOptions {
  /** The smoothed teacher's label smoothing (> 0; default: the config's, or 0.1 when it is 0). The other teacher trains on hard labels. */
  smoothing?: number;
  /** The softmax temperature T of the distillation term (> 0; default 4). */
  temperature?: number;
  /** The weight β of the distillation term, (1 − β)·CE + β·T²·KL (in [0, 1]; default 0.5). */
  beta?: number;
}

export interface DistillationResult {
  smoothing: number;
  temperature: number;
  beta: number;
  seeds: number[];
  /** Every run, seed by seed: the hard-label teacher, its student, the smoothed teacher, its student. */
  runs: DistillationRun[];
  /** The teachers (hard-label, smoothed), then their students, each over the seeds. */
  settings: DistillationSetting[];
  /** The smoothed teacher's accuracy minus the hard-label one's, paired by seed. */
  teacherDifference: PairedDifference;
  /** The smoothed teacher's student's accuracy minus the hard-label teacher's student's, paired by seed. */
  studentDifference: PairedDifference;
  /** What the runs show about the claim that a label-smoothed teacher makes a worse student. */
  reading: string;
  /** report.html's path (written by rank 0). */
  report: string;
}

/**
 * Trains a hard-label and a label-smoothed teacher, then a student of each on hard labels with
 * (1 − β)·CE + β·T²·KL(teacher_T ‖ student_T), per seed; measures each at its last epoch on the
 * validation split and writes report.html and figures/ to `config.out`, locked for the
 * distillation's life. One seed: OUT/teacher-smoothing-ε and OUT/student-of-ε; several: under OUT/seed-S/.
 */
export async function distill(config: TrainConfig, o: DistillOptions = {}): Promise<DistillationResult> {
  return withExperimentLock(config.out, o, () => distillRuns(config, o));
}

async function distillRuns(config: TrainConfig, o: DistillOptions): Promise<DistillationResult> {
  // A student learns from its teacher's outputs on its own training set: per fold that is K teachers and K students, which distill does not run.
  if (config.folds > 0)
    throw new BadInputError(`--folds ${config.folds}: distill trains on a --val-fraction split; cross-validation is lsr train --folds and lsr compare --folds`);
  if (config.valFraction === 0)
    throw new BadInputError('--val-fraction 0: distill compares teachers and students on the validation split; give a fraction > 0');
  const smoothing = checkRange(o.smoothing ?? (config.smoothing > 0 ? config.smoothing : 0.1), '--smoothing', { min: 0, minOpen: true, max: 1 });
  const temperature = checkRange(o.temperature ?? DISTILL_DEFAULTS.temperature, '--temperature', { min: 0, minOpen: true });
  const beta = checkRange(o.beta ?? DISTILL_DEFAULTS.beta, '--beta', { min: 0, max: 1 });
  const seeds = o.seeds ?? [config.seed];
  refuseRepeats(seeds, '--seeds', 'seeds');
  const lead = !o.dist || o.dist.rank === 0;
  const log = experimentLog(o);
  const common = { log: o.log, tty: o.tty, signal: o.signal, dist: o.dist ?? null, overwrite: o.overwrite };
  const measured = (role: DistillationRun['role'], eps: number, seed: number, out: string, r: TrainResult): DistillationRun => {
    const last = r.epochs[r.epochs.length - 1]!;
    return { role, smoothing: eps, seed, out, epochs: r.epochs, accuracy: last.valAccuracy!, nll: last.valNll!, ece: last.valEce!, plan: r.plan };
  };
  const cells = await runGrid(config.out, seeds, [0, smoothing], async ({ seed, setting: eps, dir, seedNote }) => {
    const teacherOut = join(dir, `teacher-smoothing-${eps}`);
    log(`\n== teacher, label smoothing ${eps}${seedNote}: ${teacherOut}`);
    const teacher = await train({ ...config, seed, smoothing: eps, out: teacherOut }, common);
    try {
      if (teacher.status !== 'finished') throw new Error(`the teacher run ${teacherOut} did not finish`);
      const studentOut = join(dir, `student-of-${eps}`);
      log(`\n== student of the ε = ${eps} teacher (T = ${temperature}, β = ${beta}): ${studentOut}`);
      const student = await train(
        { ...config, smoothing: 0, out: studentOut, seed: seed + 1 },
        { ...common, teacher: { model: teacher.model, temperature, beta } },
      );
      student.model.dispose();
      if (student.status !== 'finished') throw new Error(`the student run ${studentOut} did not finish`);
      return [measured('teacher', eps, seed, teacherOut, teacher), measured('student', eps, seed, studentOut, student)];
    } finally {
      teacher.model.dispose();
    }
  });
  const runs = cells.flat();
  const { settings, teacherDifference, studentDifference } = summariseDistillation(runs, smoothing, seeds);
  const reading = distillationReading({ smoothing, seeds, settings, teacherDifference, studentDifference });
  const report = join(config.out, 'report.html');
  // Rank 0 alone writes the report.
  if (lead) await writeDistillationReport(config.out, { config, smoothing, temperature, beta, seeds, runs, settings, reading, title: o.title });
  return { smoothing, temperature, beta, seeds, runs, settings, teacherDifference, studentDifference, reading, report };
}
