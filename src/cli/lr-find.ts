// lsr lr-find: the learning-rate range test. Parses the run's options and the sweep's, calls
// lrFind, writes lr-find.json and the curve (SVG, PNG), and prints the curve as a line of text
// with the suggested rate.
import { join } from 'node:path';
import type { DistContext } from '../distributed/index.js';
import { BadInputError } from '../engine/index.js';
import { writeFileAtomic } from '../io/index.js';
import { lrFindCurve, render } from '../report/index.js';
import { type LrFindResult, checkSweep, lrFind } from '../train/index.js';
import { numberOption, usage } from './options.js';
import { COMMANDS, parseTrainArgs } from './specs.js';

const BLOCKS = '▁▂▃▄▅▆▇█';

/**
 * A curve as one line of block characters, resampled to at most `width` columns (each the mean of
 * its points). The scale runs from the lowest column (▁) to the highest one before it (█): the
 * descent is drawn at full height, and the rise after the minimum is clipped at █.
 */
export function sparkline(values: readonly number[], width = 60): string {
  const n = Math.min(width, values.length);
  const cols = Array.from({ length: n }, (_, c) => {
    const part = values.slice(Math.floor((c * values.length) / n), Math.floor(((c + 1) * values.length) / n));
    return part.reduce((a, b) => a + b, 0) / part.length;
  });
  const lowest = cols.indexOf(Math.min(...cols));
  const lo = cols[lowest]!;
  const span = Math.max(...(lowest > 0 ? cols.slice(0, lowest) : cols)) - lo;
  return cols.map((v) => BLOCKS[span > 0 ? Math.round(Math.min(1, (v - lo) / span) * (BLOCKS.length - 1)) : 0]).join('');
}

const rate = (lr: number | null) => (lr === null ? '—' : lr < 1e-3 ? lr.toExponential(2) : Number(lr.toPrecision(3)).toString());

export async function lrFindCommand(argv: string[], ctx: DistContext | null = null): Promise<number> {
  const { config, extra, help } = parseTrainArgs('lr-find', argv);
  if (help) {
    console.log(usage(COMMANDS['lr-find']));
    return 0;
  }
  const spec = COMMANDS['lr-find'];
  const sweep = { startLr: numberOption(spec, extra, 'start-lr'), endLr: numberOption(spec, extra, 'end-lr'), steps: numberOption(spec, extra, 'steps') };
  checkSweep(sweep);
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const r = await lrFind(config, { ...sweep, dist: ctx, signal: controller.signal });
  if (ctx && ctx.rank !== 0) return 0;
  if (r.lrs.length === 0) throw new BadInputError(`lr-find: the loss was not finite at the first step (--start-lr ${sweep.startLr}): no curve to read`);
  await writeFiles(config.out, r);
  printResult(r, config.out);
  return r.stopped === 'interrupted' ? 130 : 0;
}

async function writeFiles(out: string, r: LrFindResult): Promise<void> {
  const { plan, ...rest } = r;
  writeFileAtomic(join(out, 'lr-find.json'), `${JSON.stringify({ ...rest, device: plan.device, precision: plan.precision }, null, 2)}\n`);
  const marks = [
    ...(r.suggestions.steepest !== null ? [{ lr: r.suggestions.steepest, label: `steepest ${rate(r.suggestions.steepest)}` }] : []),
    ...(r.suggestions.minimumOverTen !== null ? [{ lr: r.suggestions.minimumOverTen, label: `minimum/10 ${rate(r.suggestions.minimumOverTen)}` }] : []),
  ];
  const { svg, png } = await render(
    lrFindCurve(
      r.lrs.map((lr, i) => ({ lr, loss: r.losses[i]!, smoothed: r.smoothed[i]! })),
      marks,
    ),
  );
  writeFileAtomic(join(out, 'lr-find.svg'), svg);
  writeFileAtomic(join(out, 'lr-find.png'), png);
}

function printResult(r: LrFindResult, out: string): void {
  const last = r.lrs[r.lrs.length - 1]!;
  const why = { end: '', diverged: ' (stopped: the smoothed loss diverged)', interrupted: ' (interrupted)' }[r.stopped];
  console.log(`smoothed loss ${sparkline(r.smoothed)}  lr ${rate(r.lrs[0]!)} → ${rate(last)}, log scale, ${r.lrs.length} steps${why}`);
  const other = r.method === 'steepest' ? `; the minimum's rate / 10: ${rate(r.suggestions.minimumOverTen)}` : '';
  console.log(
    `suggested --lr ${rate(r.suggestion)} (${r.method === 'steepest' ? 'the steepest descent of the smoothed loss' : "the minimum's rate / 10"}${other})${r.frozenBody ? ', for the frozen phase (the head alone)' : ''}`,
  );
  console.log(`wrote ${join(out, 'lr-find.json')}, lr-find.svg, lr-find.png`);
}
