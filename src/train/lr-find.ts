// The learning-rate range test (Smith 2017), as fastai's lr_find and Lightning's tuner run it: on
// the run's own recipe, data and model, the rate rises exponentially step by step from a start to
// an end while the loss is recorded and smoothed; the sweep stops when the smoothed loss diverges,
// and a rate is read off the curve. The model it sweeps is put back as it was.
import type * as data from '../data/index.js';
import { BadInputError, type Tensor, getRngState, setRngState } from '../engine/index.js';
import type { TrainConfig } from './config.js';
import { LossNotFiniteError } from './divergence.js';
import type { RunPlan } from './plan.js';
import { ProgressBar } from './progress.js';
import type { Progress } from './checkpoint.js';
import { Trainer, type TrainOptions } from './trainer.js';

/** The sweep's defaults: fastai's (1e-7 to 10 over 100 steps, stopped at 4× the best smoothed loss, β = 0.98). */
export const LR_FIND_DEFAULTS = { startLr: 1e-7, endLr: 10, steps: 100, divergence: 4, beta: 0.98 } as const;

export interface LrFindOptions extends Pick<TrainOptions, 'log' | 'tty' | 'dist' | 'signal' | 'data' | 'uint8Batches'> {
  startLr?: number;
  endLr?: number;
  /** Steps (batches) from startLr to endLr, at least 2. */
  steps?: number;
  /** The sweep stops when the smoothed loss exceeds this many times its best (fastai: 4). */
  divergence?: number;
  /** The smoothing's β: an exponential moving average with bias correction (fastai: 0.98). */
  beta?: number;
  /**
   * A Trainer to sweep (its model, optimizer, schedule, averaged weights, loss state and progress
   * are put back afterwards); by default lrFind builds one from `config` and frees it after.
   */
  trainer?: Trainer;
}

/** The rates read off the smoothed curve. */
export interface LrSuggestions {
  /** Where the smoothed loss falls fastest against log(lr) (fastai's `steep`); null with fewer than 2 points. */
  steepest: number | null;
  /** The rate of the smoothed loss's minimum, divided by 10 (fastai's `minimum`); null with no point. */
  minimumOverTen: number | null;
}

export interface LrFindResult {
  /** The rate of each step taken, its loss (mean over the batch) and the smoothed loss. */
  lrs: number[];
  losses: number[];
  smoothed: number[];
  /** The suggested rate: the steepest descent, or the minimum / 10 where there is no slope to read (`method` says which); null when no step was taken. */
  suggestion: number | null;
  method: 'steepest' | 'minimum/10' | null;
  suggestions: LrSuggestions;
  /** Why the sweep ended: every step taken, the smoothed loss past `divergence` × its best (or not finite), or a stop asked. */
  stopped: 'end' | 'diverged' | 'interrupted';
  startLr: number;
  endLr: number;
  steps: number;
  /** Whether the sweep trained the head alone (--freeze-epochs: the rate of the frozen phase). */
  frozenBody: boolean;
  /** The decisions the sweep ran with (device, precision, batch shapes). */
  plan: RunPlan;
}

/** `steps` rates from `start` to `end`, each the previous times a constant: start·(end/start)^(i/(steps−1)). */
export function lrSweep(start: number, end: number, steps: number): number[] {
  return Array.from({ length: steps }, (_, i) => (i === steps - 1 ? end : start * (end / start) ** (i / (steps - 1))));
}

/** An exponential moving average of the losses with bias correction: avg/(1 − β^(i+1)), as fastai's SmoothLoss. */
export function smoothLosses(losses: readonly number[], beta: number = LR_FIND_DEFAULTS.beta): number[] {
  let avg = 0;
  return losses.map((l, i) => {
    avg = beta * avg + (1 - beta) * l;
    return avg / (1 - beta ** (i + 1));
  });
}

/**
 * The suggestions from a smoothed curve, read between its first tenth (the start's noise: a
 * smoothed loss of a few batches; Lightning's skip_begin, 10 of 100) and its last five points when
 * more than ten (fastai's skip_end: the divergence's tail, whose steep rises and falls are noise).
 */
export function suggestLr(lrs: readonly number[], smoothed: readonly number[]): LrSuggestions {
  const from = Math.floor(lrs.length / 10);
  const to = lrs.length > 10 ? lrs.length - 5 : lrs.length;
  if (to <= from) return { steepest: null, minimumOverTen: null };
  let low = from;
  for (let i = from + 1; i < to; i++) if (smoothed[i]! < smoothed[low]!) low = i;
  let steep = -1;
  let slope = Infinity;
  for (let i = from; i + 1 < to; i++) {
    const s = (smoothed[i + 1]! - smoothed[i]!) / (Math.log(lrs[i + 1]!) - Math.log(lrs[i]!));
    if (s < slope) [steep, slope] = [i, s];
  }
  return { steepest: steep < 0 ? null : lrs[steep]!, minimumOverTen: lrs[low]! / 10 };
}

/**
 * The sweep's loop, on any loss: `lossAt(lr, i)` takes one step at rate `lr` and returns its loss,
 * or null when the loss was not finite (the step not taken) or a stop was asked (`stop()` true).
 * Stops once the smoothed loss exceeds `divergence` × its best (from the second step, as fastai).
 */
export async function runSweep(
  lrs: readonly number[],
  lossAt: (lr: number, i: number) => Promise<number | null> | number | null,
  o: { divergence?: number; beta?: number; stop?: () => boolean } = {},
): Promise<Pick<LrFindResult, 'lrs' | 'losses' | 'smoothed' | 'stopped'>> {
  const { divergence = LR_FIND_DEFAULTS.divergence, beta = LR_FIND_DEFAULTS.beta } = o;
  const out = { lrs: [] as number[], losses: [] as number[], smoothed: [] as number[] };
  let avg = 0;
  let best = Infinity;
  for (const [i, lr] of lrs.entries()) {
    const loss = await lossAt(lr, i);
    if (loss === null) return { ...out, stopped: o.stop?.() ? 'interrupted' : 'diverged' };
    avg = beta * avg + (1 - beta) * loss;
    const smooth = avg / (1 - beta ** (i + 1));
    out.lrs.push(lr);
    out.losses.push(loss);
    out.smoothed.push(smooth);
    if (i > 0 && !(smooth <= divergence * best)) return { ...out, stopped: 'diverged' };
    best = Math.min(best, smooth);
    if (o.stop?.()) return { ...out, stopped: 'interrupted' };
  }
  return { ...out, stopped: 'end' };
}

/** The sweep's options checked, each refusal naming the option. */
export function checkSweep(o: { startLr: number; endLr: number; steps: number }): void {
  if (!(o.startLr > 0 && Number.isFinite(o.startLr))) throw new BadInputError(`--start-lr must be a number > 0, got ${o.startLr}`);
  if (!(o.endLr > o.startLr && Number.isFinite(o.endLr)))
    throw new BadInputError(`--end-lr ${o.endLr} must be above --start-lr ${o.startLr}: the rate rises from one to the other`);
  if (!(Number.isInteger(o.steps) && o.steps >= 2)) throw new BadInputError(`--steps must be an integer ≥ 2 (a range has two ends), got ${o.steps}`);
}

/**
 * The LR range test on the run `config` describes (its data prepared as the Trainer prepares it,
 * its --device and --precision planned as training plans them; --freeze-epochs: the head alone).
 * Nothing is written: `config.out` is neither read nor locked. The model is left as it was.
 */
export async function lrFind(config: TrainConfig, o: LrFindOptions = {}): Promise<LrFindResult> {
  const sweep = { startLr: o.startLr ?? LR_FIND_DEFAULTS.startLr, endLr: o.endLr ?? LR_FIND_DEFAULTS.endLr, steps: o.steps ?? LR_FIND_DEFAULTS.steps };
  checkSweep(sweep);
  // A constant rate that the sweep sets each step: no schedule moves it (nor cycles the momentum).
  const trainer =
    o.trainer ??
    (await Trainer.create(
      { ...config, scheduler: 'none' },
      { log: o.log, tty: o.tty, dist: o.dist, data: o.data, uint8Batches: o.uint8Batches, runFolder: false },
    ));
  const saved = o.trainer ? saveState(trainer) : null;
  try {
    return await sweepWith(trainer, sweep, o);
  } finally {
    if (saved) saved.restore();
    else {
      await trainer.close();
      trainer.model.dispose();
      trainer.ema?.module.dispose();
    }
  }
}

async function sweepWith(t: Trainer, sweep: { startLr: number; endLr: number; steps: number }, o: LrFindOptions): Promise<LrFindResult> {
  if (t.trainLoader.length === 0) throw new BadInputError('lr-find: the training set gives no batch');
  t.enterEpoch(0);
  const bar = new ProgressBar('lr-find', sweep.steps, t.log, o.tty);
  const sums = { loss: 0, correct: 0, count: 0, seconds: 0 };
  const batches = batchesFrom(t);
  // A stop asked of the Trainer (its own signal) ends the sweep as o.signal does.
  let asked = false;
  const lossAt = async (lr: number, i: number): Promise<number | null> => {
    const next = await batches.next();
    if (next.done) return null;
    const { batch, epoch, step } = next.value;
    for (const g of t.optimizer.paramGroups) g.lr = lr;
    const t0 = performance.now();
    try {
      // `last`: read the loss at every step, a GPU's too (each one decides whether to go on).
      const r = t.step(batch, { epoch, step, last: true });
      sums.seconds += (performance.now() - t0) / 1000;
      const read = r.read!;
      for (const k of ['loss', 'correct', 'count'] as const) sums[k] += read[k];
      asked ||= r.stop;
      bar.update(i + 1, { loss: read.loss / read.count, acc: sums.correct / sums.count, imagesPerSecond: sums.count / sums.seconds });
      return read.loss / read.count;
    } catch (e) {
      // A loss that is no longer finite is where the sweep has diverged, not a failure.
      if (e instanceof LossNotFiniteError) return null;
      throw e;
    } finally {
      batch.dispose();
    }
  };
  const run = await runSweep(lrSweep(sweep.startLr, sweep.endLr, sweep.steps), lossAt, {
    divergence: o.divergence,
    beta: o.beta,
    stop: () => asked || (o.signal?.aborted ?? false),
  });
  await batches.return(undefined);
  bar.finish(`${run.lrs.length} of ${sweep.steps} steps (${run.stopped === 'end' ? 'the whole range' : run.stopped})`);
  const suggestions = suggestLr(run.lrs, run.smoothed);
  const method = suggestions.steepest !== null ? 'steepest' : suggestions.minimumOverTen !== null ? 'minimum/10' : null;
  return {
    ...run,
    suggestion: method === 'steepest' ? suggestions.steepest : suggestions.minimumOverTen,
    method,
    suggestions,
    ...sweep,
    frozenBody: t.frozen,
    plan: t.plan,
  };
}

/** The training batches epoch after epoch, as many as the sweep asks for, with their epoch and step. */
async function* batchesFrom(t: Trainer): AsyncGenerator<{ batch: data.StagedBatch; epoch: number; step: number }> {
  for (let epoch = 0; ; epoch++) {
    let step = 0;
    for await (const batch of t.trainLoader.epoch(epoch)) yield { batch, epoch, step: ++step };
  }
}

/** What a sweep changes in a Trainer, copied, and put back by restore(). */
function saveState(t: Trainer): { restore(): void } {
  const copy = (sd: Map<string, Tensor>) => new Map([...sd].map(([k, v]) => [k, v.clone()]));
  const model = copy(t.model.stateDict());
  const ema = t.ema ? copy(t.ema.module.stateDict()) : null;
  const optimizer = t.optimizer.stateDict();
  const scheduler = t.schedule.scheduler?.stateDict() ?? null;
  const loss = t.objective.stateDict?.(t.ctx) ?? null;
  const progress: Progress = structuredClone(t.progress);
  const rng = getRngState();
  const training = t.model.training;
  return {
    restore() {
      t.model.loadStateDict(model);
      if (ema) t.ema!.module.loadStateDict(ema);
      t.optimizer.loadStateDict(optimizer);
      if (scheduler) t.schedule.scheduler!.loadStateDict(scheduler);
      if (loss) t.objective.loadStateDict?.(loss, t.ctx);
      t.progress = progress;
      setRngState(rng);
      t.model.train(training);
      for (const sd of [model, ema ?? new Map<string, Tensor>(), new Map(Object.entries(loss ?? {}))]) for (const v of sd.values()) v.dispose();
      for (const s of optimizer.state.values()) for (const v of Object.values(s)) if (typeof v !== 'number') v.dispose();
      rng.dispose();
    },
  };
}
