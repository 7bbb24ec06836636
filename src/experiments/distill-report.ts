// A distillation's report: the validation accuracy curves of teachers and students
// (figures/distill-accuracy.*) and report.html (the setting, the table, the reading).
import { join } from 'node:path';
import { seedBand } from '../eval/index.js';
import { accuracyCurves, writeReport } from '../report/index.js';
import { type TrainConfig, describePrecision } from '../train/index.js';
import type { DistillationRun, DistillationSetting } from './analysis.js';
import { writeFigure } from './figures.js';
import { formatSpread } from './prose.js';

/** The report's default title. */
export const DISTILLATION_TITLE = 'lsr distill: hard-label teacher against smoothed teacher';

/** What the report is written from. */
export interface DistillationReportInput {
  config: TrainConfig;
  smoothing: number;
  temperature: number;
  beta: number;
  seeds: readonly number[];
  /** Every run, seed by seed (teacher, then its student). */
  runs: readonly DistillationRun[];
  settings: readonly DistillationSetting[];
  reading: string;
  title?: string;
}

/** Writes `dir`/report.html and its figure under `dir`/figures; returns the report's path. */
export async function writeDistillationReport(dir: string, o: DistillationReportInput): Promise<string> {
  const { config, smoothing, seeds } = o;
  const multi = seeds.length > 1;
  // A setting's validation accuracy per epoch, per seed, in the order the runs came.
  const histories = new Map<string, number[][]>();
  for (const r of o.runs) {
    const name = `${r.role === 'teacher' ? 'teacher' : 'student of'} ${r.smoothing}`;
    histories.set(name, [...(histories.get(name) ?? []), r.epochs.map((e) => e.valAccuracy!)]);
  }
  // Each setting's mean over the seeds (a band of ± one sd with several); the ε's colour, lighter for its student.
  const curves = [...histories].flatMap(([setting, runs]) =>
    seedBand(runs).map((b, e) => ({ setting, epoch: e + 1, split: 'val' as const, accuracy: b.mean, ...(multi ? { lo: b.lo, hi: b.hi } : {}) })),
  );
  const colors = {
    domain: ['teacher 0', `teacher ${smoothing}`, 'student of 0', `student of ${smoothing}`],
    range: ['#4c78a8', '#f58518', '#9ecae9', '#ffbf79'],
  };
  const figure = await writeFigure(
    dir,
    'distill-accuracy',
    accuracyCurves(curves, colors, 'model'),
    `Validation accuracy per epoch${multi ? `: the mean over ${seeds.length} seeds, the band ± one standard deviation` : ''}`,
    { spec: false },
  );
  const report = join(dir, 'report.html');
  writeReport(report, o.title ?? DISTILLATION_TITLE, [
    {
      heading: 'Setting',
      text: [
        `Data ${config.data}, model ${config.model} for teachers and students, ${config.epochs} epochs, batch ${config.batchSize}, ${config.optimizer} lr ${config.lr} (${config.scheduler}), ` +
          `weight decay ${config.weightDecay}${config.optimizer === 'sgd' ? `, momentum ${config.momentum}` : ''}, precision ${describePrecision(o.runs[0]!.plan, config.precision)}; seed${multi ? 's' : ''} ${seeds.join(', ')} (each student: its teacher's seed + 1). ` +
          `Teachers train with label smoothing 0 and ${smoothing}; students on hard labels with (1 − β)·CE + β·T²·KL(teacher_T ‖ student_T), T = ${o.temperature}, β = ${o.beta}.`,
      ],
    },
    {
      heading: 'Validation, last epoch',
      text: [o.reading],
      tables: [
        {
          header: ['model', `val accuracy${multi ? ' (mean ± sd)' : ''}`, 'NLL', 'ECE', multi ? 'runs' : 'run'],
          rows: o.settings.map((s) => [
            s.label,
            formatSpread('accuracy', s.accuracy),
            formatSpread('nll', s.nll),
            formatSpread('ece', s.ece),
            s.runs.map((r) => r.out).join(', '),
          ]),
        },
      ],
      figures: [figure],
    },
  ]);
  return report;
}
