// A training run in parts that can be read and replaced one at a time: set-up (constructor),
// step(batch), validate(), saveCheckpoint(), and fit() running the epochs, with callbacks for what
// watches a run (the progress bar). It writes metrics.jsonl, `last` and `best` checkpoints,
// resumes to the same end as a straight run, saves where it stands when interrupted and stops on
// a non-finite loss.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as data from '../data/index.js';
import { type DistContext, type DistributedDataParallel, collective } from '../distributed/index.js';
import {
  BadInputError,
  type Device,
  ErrorCode,
  type ResolvedPrecision,
  type Tensor,
  dist,
  getRngState,
  cuda,
  hasErrorCode,
  isCuda,
  keep,
  manualSeed,
  resolvePrecision,
  setNumThreads,
  setRngState,
  stack,
  tensor,
  tidy,
} from '../engine/index.js';
import { classificationMetrics } from '../eval/index.js';
import {
  type FolderLock,
  appendJsonLine,
  checkFolderLock,
  lockFolder,
  readJsonLines,
  refuseOverwritingInput,
  removeStaleTemporaries,
  tornTailWarning,
  writeFileAtomic,
} from '../io/index.js';
import { crossEntropy } from '../losses/index.js';
import type { Classifier } from '../models/index.js';
import type { Optimizer } from '../optim/index.js';
import { type Progress, checkProgress, generatorDevices, saveCheckpoint } from './checkpoint.js';
import { type TrainConfig, kebab } from './config.js';
import { LossNotFiniteError, likelyCauses } from './divergence.js';
import { ModelEma } from './ema.js';
import { collectOutputs } from './inference.js';
import { Distillation, type Objective } from './objectives.js';
import { Placement } from './placement.js';
import { logitsIn } from './precision.js';
import { ProgressBar } from './progress.js';
import { LOSSES, OPTIMIZERS } from './registry.js';
import { registeredDataset } from './datasets.js';
import { type RunPlan, planRun } from './plan.js';
import { RunSchedule } from './schedule.js';
import { checkClasses, readRunFolder } from './run-folder.js';
import { type RunData, buildModel, checkBatchFits, prepareData, prepareRun } from './setup.js';

export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  /** Validation metrics (of the averaged weights with --ema); null without validation (--val-fraction 0). */
  valLoss: number | null;
  valAccuracy: number | null;
  valTop5: number | null;
  valNll: number | null;
  valEce: number | null;
  /** With --ema: the validation accuracy of the weights being trained, for comparison with the average. */
  modelValAccuracy?: number;
  lr: number;
  /** The time in steps (waiting for the device's work included, waiting for the loader not). */
  seconds: number;
  imagesPerSecond: number;
  /** The epoch's training as a clock sees it, from its first batch asked for to its last step done: loader waits included (the part of it after a resume). */
  wallSeconds: number;
}

/** What watches a run. Rank 0 alone calls them in a data-parallel run. */
export interface TrainerCallbacks {
  /** Before an epoch's first batch. */
  onEpochStart?(trainer: Trainer, epoch: number): void;
  /** After each optimizer step: the epoch's running sums. */
  onStep?(trainer: Trainer, s: { epoch: number; step: number; steps: number; sums: Progress['sums'] }): void;
  /** After an epoch's validation and checkpoints. */
  onEpochEnd?(trainer: Trainer, m: EpochMetrics): void;
  /** When the run stops early, saved (interrupted: resume it with --resume). */
  onInterrupt?(trainer: Trainer, checkpoint: string): void;
}

export interface TrainOptions {
  /** Continue from `out`/last.safetensors. */
  resume?: boolean;
  /** Start afresh in an `out` that already holds a run (otherwise an error: resume, or choose another folder). */
  overwrite?: boolean;
  /** Stop (checkpointed) when aborted: Ctrl-C. */
  signal?: AbortSignal;
  /** Stop (checkpointed) after this many epochs in total; for tests of resume. */
  stopAfterEpochs?: number;
  /** Where progress goes (stderr by default); null for silence. */
  log?: ((line: string) => void) | null;
  /** A TTY progress bar redrawn in place (default: process.stderr.isTTY). */
  tty?: boolean;
  /** Knowledge distillation: the loss becomes (1 − β)·CE + β·T²·KL(teacher_T ‖ student_T). */
  teacher?: { model: Classifier; temperature: number; beta: number };
  /**
   * This process's place in a data-parallel run (its process group joined). Each rank trains on
   * its share of every global batch; rank 0 alone logs and writes files.
   */
  dist?: DistContext | null;
  /** More watchers of the run, after the progress bar. */
  callbacks?: TrainerCallbacks[];
  /** uint8 pixels normalised where the model is (data.DeviceLoader): by default on a CUDA device only; true on the CPU tests the GPU's feed. */
  uint8Batches?: boolean;
  /**
   * Read the loss and accuracy every N steps (default: 20 on a CUDA device, where each read waits
   * for the device, else every step); the progress bar and a non-finite loss are seen when read.
   */
  readEvery?: number;
  /** The run's data and recipe, prepared (prepareRun); by default the constructor prepares them, and Trainer.create when the recipe needs the data's statistics. */
  data?: RunData & { missing: string[] };
  /** false: no run folder: `out` is neither locked, read nor written (lrFind's sweep, which keeps nothing). Default true. */
  runFolder?: boolean;
}

export interface TrainResult {
  status: 'finished' | 'interrupted' | 'stopped';
  epochs: EpochMetrics[];
  /** The run's model: the averaged weights with --ema (the ones validated and saved). */
  model: Classifier;
  data: RunData & { missing: string[] };
  /** The decisions the run was made with (device, precision, batch shapes, LR): what evaluation and the report read. */
  plan: RunPlan;
  /** The configuration as the run recorded it in config.json (its rate, device and image size resolved). */
  config: TrainConfig;
}

/** The loss and accuracy sums of the steps read at once: Σ loss·images, correct predictions and images (over every rank). */
export interface StepSums {
  loss: number;
  correct: number;
  count: number;
}

/** What one optimizer step did. */
export interface StepResult {
  /** A stop was asked (Ctrl-C; on any rank): the run saves where it stands. */
  stop: boolean;
  /**
   * The sums read at this step, those of every step since the last read (this one included), or
   * null when they stay on the device until a later read (every plan.readEvery steps on a GPU).
   */
  read: StepSums | null;
}

/** The progress bar and the epoch's summary line, as a callback. */
export function progressLogger(log: ((line: string) => void) | null, tty?: boolean): TrainerCallbacks {
  let bar: ProgressBar | null = null;
  const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(2)}%`);
  return {
    onEpochStart: (t, epoch) => (bar = new ProgressBar(`epoch ${epoch + 1}/${t.config.epochs}`, t.trainLoader.length, log, tty)),
    onStep: (_, s) =>
      bar?.update(s.step, { loss: s.sums.loss / s.sums.count, acc: s.sums.correct / s.sums.count, imagesPerSecond: s.sums.count / s.sums.seconds }),
    onInterrupt: (_, path) => bar?.finish(`interrupted: saved ${path} (resume with --resume)`),
    onEpochEnd: (_, m) =>
      bar?.finish(
        `train loss ${m.trainLoss.toFixed(4)} acc ${pct(m.trainAccuracy)} | ` +
          (m.valLoss === null
            ? 'no validation'
            : `val loss ${m.valLoss.toFixed(4)} acc ${pct(m.valAccuracy)} NLL ${m.valNll!.toFixed(4)} ECE ${pct(m.valEce)}`) +
          (m.modelValAccuracy !== undefined ? ` (EMA; the trained weights ${pct(m.modelValAccuracy)})` : '') +
          ` | ${m.imagesPerSecond.toFixed(0)} img/s`,
      ),
  };
}

const emptySums = (): Progress['sums'] => ({ loss: 0, correct: 0, count: 0, seconds: 0 });

/** The files a run writes in --out. */
const RUN_FILES = [
  'config.json',
  'plan.json',
  'vocab.json',
  'recipe.json',
  'metrics.jsonl',
  'last.safetensors',
  'best.safetensors',
  'bad-images.txt',
  'resumes.jsonl',
];

export class Trainer {
  /** The decisions made once for the run (device, precision, ranks, batch shapes, LR, read cadence). */
  readonly plan: RunPlan;
  /** Where the model, its batches and the ranks' sums are (Lightning's strategy), from the plan. */
  readonly placement: Placement;
  readonly ctx: DistContext | null;
  readonly data: RunData & { missing: string[] };
  readonly model: Classifier;
  readonly optimizer: Optimizer<{ lr: number }>;
  /** The learning-rate schedule, with an entry after each update and one after each epoch. */
  readonly schedule: RunSchedule;
  readonly objective: Objective;
  readonly ema: ModelEma | null;
  /** This rank's training batches, on the device. */
  readonly trainLoader: data.DeviceLoader;
  /** The validation batches, on the device; null without validation (--val-fraction 0). */
  readonly valLoader: data.DeviceLoader | null;
  readonly ddp: DistributedDataParallel | null;
  /** --mixup/--cutmix: mixes each training batch (null: off). */
  readonly mixup: data.Mixup | null;
  readonly callbacks: TrainerCallbacks[];
  readonly log: ((line: string) => void) | null;
  progress: Progress = { epoch: 0, step: 0, sums: emptySums(), bestAccuracy: -1 };
  /** Optimizer steps taken by this process (a loss that is not finite before any is not the rate's doing). */
  #updates = 0;
  /** [Σ loss·images, correct] of the steps not read yet, where the model is; their images, and the first such step. */
  #unread: { sums: Tensor; count: number; from: number } | null = null;
  history: EpochMetrics[] = [];
  /** --out's lock (rank 0), held from set-up to the end of fit(). */
  #lock: FolderLock | null = null;
  readonly paths: { last: string; best: string; metrics: string };
  /** --freeze-epochs: whether this epoch trains the head alone (enterEpoch). */
  #frozen = false;
  /** The steps, seconds and images of the current phase's epochs (frozen, then whole; the epochs' sums, a resumed one's included), for its speed at the phase's end. */
  #phase = { steps: 0, seconds: 0, images: 0 };

  // What the plan decided, under the names the rest of the Trainer (and its callers) read.
  /** Rank 0 (or the only process): it alone logs and writes files. */
  get lead(): boolean {
    return this.plan.lead;
  }
  /** Where the model, its optimizer state and each batch live (--device resolved). */
  get device(): Device {
    return this.plan.device;
  }
  get precision(): ResolvedPrecision {
    return this.plan.precision;
  }
  /** Steps between reads of the loss (1: every step; more on a GPU, whose reads wait for it). */
  get readEvery(): number {
    return this.plan.readEvery;
  }
  /** Whether the body is frozen (--freeze-epochs): the epoch entered trains the head alone. */
  get frozen(): boolean {
    return this.#frozen;
  }
  /** Rank 0 of a run with a run folder: it alone locks, reads and writes `out`. */
  get #writesOut(): boolean {
    return this.lead && this.o.runFolder !== false;
  }

  /** Set-up: the data, the model, the optimizer and schedule, the loss, a resumed state, data parallelism. */
  constructor(
    readonly config: TrainConfig,
    readonly o: TrainOptions = {},
  ) {
    // Every decision made once (device, precision, ranks, batch shapes, LR, read cadence): the rest reads the plan.
    this.plan = planRun(config, { dist: o.dist, readEvery: o.readEvery });
    const plan = this.plan;
    // Where the work happens, as the plan decided: the model, the loaders, the ranks' sums, the reads.
    const place = (this.placement = new Placement(plan, o.dist ?? null, { uint8: o.uint8Batches }));
    const ctx = (this.ctx = place.ctx);
    const { world } = plan;
    // config.json records what the run used: the rate of --lr 0 and the device of 'auto'.
    if (config.lr !== plan.lr || config.device !== plan.device) this.config = config = { ...config, lr: plan.lr, device: plan.device };
    this.log = !this.lead ? null : o.log === undefined ? (line: string) => process.stderr.write(`${line}\n`) : o.log;
    this.callbacks = this.lead ? [progressLogger(this.log, o.tty), ...(o.callbacks ?? [])] : [];
    this.paths = { last: join(config.out, 'last.safetensors'), best: join(config.out, 'best.safetensors'), metrics: join(config.out, 'metrics.jsonl') };
    // Rank 0 alone: the others may already see the config.json it writes.
    if (this.#writesOut) Trainer.#refuseHeldOut(config, o);
    setNumThreads(plan.threads);
    manualSeed(config.seed);
    // Fixed shapes batch after batch: cuDNN times its algorithms once and keeps the fastest (PyTorch's cudnn.benchmark).
    if (isCuda(this.device)) cuda.setCudnnBenchmark(true);
    this.log?.(
      `device: ${this.device}${plan.deviceReason === 'chosen' ? '' : ` (${plan.deviceReason})`}; precision: ${plan.precision}${plan.precision === 'bf16' ? ' autocast, channels_last' : ''} (${config.precision === 'auto' ? `auto: ${plan.precisionReason}` : 'chosen'}); ${plan.threads} threads${ctx ? ` in each of ${world} process${world > 1 ? 'es' : ''} (global batch ${plan.batch.global}, ${plan.batch.perRank} per process${config.syncBn ? ', synchronised BatchNorm' : ''})` : ''}`,
    );
    if (config.accumulate > 1)
      this.log?.(`gradient accumulation: each batch of ${plan.batch.perRank} as ${config.accumulate} micro-batches of ${plan.batch.micro}`);
    this.data = o.data ?? prepareData(config);
    checkBatchFits(config, this.data);
    // --image-size 0 (auto), resolved from the data: config.json records the side the run used.
    if (this.data.imageSize !== config.imageSize) this.config = config = { ...config, imageSize: this.data.imageSize };
    this.log?.(`recipe: ${this.data.recipe.description}`);
    const { vocab, train: trainSet, val: valSet } = this.data;
    if (valSet.length === 0) this.log?.('no validation (--val-fraction 0): every labelled image trains; each epoch writes last.safetensors, and no best');
    this.model = place.model(buildModel(config, vocab.size, this.data.trainPipeline.channels));
    this.optimizer = OPTIMIZERS.get(config.optimizer)(this.model.parameters(), { lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay });
    // Built before the schedule, which counts its batches (its workers start with the first epoch).
    this.trainLoader = place.trainLoader(trainSet, config, {
      pipeline: this.data.trainPipeline,
      batchSize: plan.batch.perRank,
      dropLast: trainSet.length > config.batchSize,
    });
    this.schedule = RunSchedule.build(config.scheduler, this.optimizer, { epochs: config.epochs, batchesPerEpoch: this.trainLoader.length, lr: config.lr });
    this.objective = o.teacher
      ? new Distillation(place.model(o.teacher.model), {
          temperature: o.teacher.temperature,
          beta: o.teacher.beta,
          smoothing: config.smoothing,
          precision: plan.precision,
        })
      : LOSSES.get(config.loss)({ numClasses: vocab.size, smoothing: config.smoothing, olsAlpha: config.olsAlpha });
    if (o.teacher && (config.mixup > 0 || config.cutmix > 0))
      throw new BadInputError('--mixup and --cutmix mix the targets of cross-entropy: a distillation run does not take them');
    this.mixup =
      config.mixup > 0 || config.cutmix > 0
        ? new data.Mixup({ mixupAlpha: config.mixup, cutmixAlpha: config.cutmix, labelSmoothing: config.smoothing, numClasses: vocab.size, seed: config.seed })
        : null;
    if (this.#writesOut) this.#prepareOut();
    try {
      const resumed = o.resume ? this.#resume() : null;
      if (!o.resume && this.#writesOut) this.#writeRunFiles();
      // The decisions this process trains with (a resume may be planned otherwise: other ranks, another device).
      if (this.#writesOut) writeFileAtomic(join(config.out, 'plan.json'), `${JSON.stringify(plan, null, 2)}\n`);
      // Every rank starts from rank 0's weights: broadcast after any resume.
      this.ddp = place.wrap(this.model, { syncBatchNorm: config.syncBn });
      this.ema = config.ema > 0 ? this.#makeEma(resumed?.ema ?? null) : null;
      resumed?.dispose();
      this.valLoader = valSet.length ? place.evalLoader(valSet, config, this.data.evalPipeline) : null;
    } catch (e) {
      this.#lock?.release();
      throw e;
    }
  }

  /** A Trainer whose data is prepared first (prepareRun), reading the training set's statistics when its recipe normalises by them. */
  static async create(config: TrainConfig, o: TrainOptions = {}): Promise<Trainer> {
    // Before reading the data (a statistics pass, --skip-bad-images' decoding of every image): a refusal costs nothing.
    const ctx = o.dist && dist.processGroup() ? o.dist : null;
    if ((!ctx || ctx.rank === 0) && o.runFolder !== false) Trainer.#refuseHeldOut(config, o);
    return new Trainer(config, { ...o, data: o.data ?? (await prepareRun(config)) });
  }

  /** An --out that holds a run is continued (--resume) or started afresh (--overwrite), never silently trained over. */
  static #refuseHeldOut(config: TrainConfig, o: TrainOptions): void {
    const holdsRun = existsSync(join(config.out, 'config.json')) || existsSync(join(config.out, 'last.safetensors'));
    if (holdsRun && !o.resume && !o.overwrite)
      throw new BadInputError(`--out ${config.out} already holds a run: --resume continues it, --overwrite starts it afresh, or choose another --out`);
    checkFolderLock(config.out, `--out ${config.out}`);
  }

  /**
   * --out is locked for the run's life, exists and takes files now, not after an epoch's work, and
   * holds no input the run would overwrite; temporary files a killed run left go.
   */
  #prepareOut(): void {
    const out = this.config.out;
    this.#lock = lockFolder(out, `--out ${out}`, this.log);
    const { data: source, weights } = this.config;
    const inputs = [
      ...(weights ? [{ what: `--weights ${weights}`, path: weights }] : []),
      ...(registeredDataset(source) ? [] : [{ what: `--data ${source}`, path: source.endsWith('.csv') ? source : join(source, 'train.csv') }]),
    ];
    try {
      for (const name of RUN_FILES)
        refuseOverwritingInput({ what: `the run's ${name} in --out ${out}`, path: join(out, name) }, inputs, 'choose another --out');
    } catch (e) {
      this.#lock.release();
      throw e;
    }
    try {
      mkdirSync(out, { recursive: true });
      writeFileAtomic(join(out, '.lsr-write-test'), '');
      rmSync(join(out, '.lsr-write-test'), { force: true });
    } catch (e) {
      throw new BadInputError(`--out ${out} cannot hold the run: ${(e as Error).message}`);
    }
    const stale = removeStaleTemporaries(out);
    if (stale.length) this.log?.(`removed ${stale.length} temporary file${stale.length > 1 ? 's' : ''} a killed run left in ${out}: ${stale.join(', ')}`);
  }

  #resume(): { ema: Map<string, Tensor>; dispose(): void } {
    const { config, lead, ctx, paths } = this;
    if (!existsSync(paths.last))
      throw new Error(
        `--resume: ${paths.last} does not exist${lead ? '' : ` on this machine (rank ${ctx!.rank}): every rank reads the checkpoint, so --out must be a folder all machines share`}`,
      );
    // The folder checked as a whole (config.json, vocab.json, recipe.json against the checkpoint), then the data against it.
    const folder = readRunFolder(config.out, { checkpoint: 'last', option: '--out' });
    const ckpt = folder.checkpoint;
    let progress: Progress;
    try {
      checkClasses(`--data ${config.data}`, this.data.vocab.classes, paths.last, folder.vocab.classes);
      // The weights fit the model they were trained as: another --model cannot continue them.
      if (config.model !== folder.config.model)
        throw new BadInputError(
          `--model ${config.model}: the run in --out ${config.out} was trained with --model ${folder.config.model}; --resume continues a run as it was (--overwrite starts it afresh)`,
        );
      // Checked before anything is restored: a checkpoint that does not fit this run is refused.
      progress = checkProgress(paths.last, ckpt.meta.progress, { epochs: config.epochs, batchesPerEpoch: this.trainLoader.length });
      ckpt.restore({ model: this.model, optimizer: this.optimizer, scheduler: this.schedule.scheduler, generators: generatorDevices(this.device) });
      if (this.objective.loadStateDict) {
        if (Object.keys(ckpt.loss).length === 0)
          throw new Error(`${paths.last}: the checkpoint has no loss state, but the run's loss (${config.loss}) keeps one`);
        this.objective.loadStateDict(ckpt.loss, ctx);
      }
      if (config.ema > 0 && ckpt.ema.size === 0) throw new Error(`${paths.last}: the checkpoint has no averaged weights, but the run has --ema ${config.ema}`);
    } catch (e) {
      ckpt.dispose();
      throw e;
    }
    this.progress = progress;
    if (existsSync(paths.metrics)) {
      let torn = false;
      this.history = readMetrics(paths.metrics, (line) => {
        torn = true;
        this.log?.(line);
      }).filter((m) => m.epoch <= this.progress.epoch);
      // Rewritten now, not at the next epoch's end: a finished run has none.
      if (torn && lead) this.#writeMetrics();
    } else this.history = [];
    this.log?.(`resuming ${config.out} at epoch ${this.progress.epoch + 1}, batch ${this.progress.step}`);
    const changed = lead ? changedSince(folder.written, config) : [];
    if (changed.length) {
      this.log?.(
        `warning: --resume with options changed since the run started: ${changed.map((c) => `--${kebab(c.key)} ${JSON.stringify(c.was)} → ${JSON.stringify(c.now)}`).join(', ')} (recorded in resumes.jsonl)`,
      );
      appendJsonLine(join(config.out, 'resumes.jsonl'), { epoch: this.progress.epoch, step: this.progress.step, changed }, this.log);
    }
    return { ema: ckpt.ema, dispose: () => ckpt.dispose() };
  }

  /** metrics.jsonl from the run's history, whole (atomically). */
  #writeMetrics(): void {
    writeFileAtomic(this.paths.metrics, this.history.map((h) => `${JSON.stringify(h)}\n`).join(''));
  }

  #writeRunFiles(): void {
    const { config, data: d } = this;
    rmSync(join(config.out, 'resumes.jsonl'), { force: true });
    // The run's config records the precision it ran in, not 'auto'.
    writeFileAtomic(join(config.out, 'config.json'), `${JSON.stringify({ ...config, precision: this.precision }, null, 2)}\n`);
    writeFileAtomic(join(config.out, 'vocab.json'), `${JSON.stringify(d.vocab.toJSON())}\n`);
    // The recipe in full (the statistics a dataset normalisation computed included): evaluation reads it back.
    writeFileAtomic(join(config.out, 'recipe.json'), `${JSON.stringify(d.recipe, null, 2)}\n`);
    if (d.missing.length) writeFileAtomic(join(config.out, 'bad-images.txt'), d.missing.map((l) => `${l}\n`).join(''));
  }

  /** A copy of the model that becomes the average: the same weights, or a resumed run's average. */
  #makeEma(saved: Map<string, Tensor> | null): ModelEma {
    // Building a model draws initial weights: the generator is put back, so that --ema changes no other number.
    const rng = getRngState();
    const copy = this.placement.model(buildModel({ ...this.config, weights: null }, this.data.vocab.size, this.data.trainPipeline.channels));
    setRngState(rng);
    rng.dispose();
    copy.loadStateDict(saved ?? this.model.stateDict());
    return new ModelEma(copy, this.model, this.config.ema);
  }

  /**
   * Sets the model's modes for `epoch`: every layer trains, or, in the first --freeze-epochs, the
   * head alone: the body in eval mode (its BatchNorm statistics kept) and run without autograd by
   * step(). Derived from the epoch alone, so a resumed run freezes as an uninterrupted one.
   */
  enterEpoch(epoch: number): void {
    this.#frozen = epoch < this.config.freezeEpochs;
    this.model.train(!this.#frozen);
    if (this.#frozen) this.model.fc.train();
  }

  /**
   * One optimizer step on a batch (this rank's share of the global batch), in --accumulate
   * micro-batches: forward, loss, backward (gradients averaged over ranks), the optimizer, the
   * schedule's per-update entry, the average of the weights. The loss and accuracy are summed where
   * the model is and read every plan.readEvery steps (every step on the CPU and in a data-parallel
   * run), on a stop and at the epoch's `last` step, always before the update: a loss that is not
   * finite stops the run there, the weights as they were.
   */
  step(batch: { x: Tensor; y: Tensor }, where: { epoch: number; step: number; last?: boolean }): StepResult {
    // --mixup/--cutmix: the batch mixed with its reverse, drawn from (seed, epoch, step) alone, so a resumed run mixes alike.
    const mixed = this.mixup ? this.mixup.apply(batch.x, batch.y, where.epoch, where.step) : null;
    try {
      return this.#step(mixed ? { ...batch, x: mixed.x, target: mixed.target } : batch, where);
    } finally {
      mixed?.x.dispose();
      mixed?.target.dispose();
    }
  }

  #step(batch: { x: Tensor; y: Tensor; target?: Tensor }, where: { epoch: number; step: number; last?: boolean }): StepResult {
    const { ctx, ddp } = this;
    const at = `at epoch ${where.epoch + 1}, batch ${where.step}`;
    const n = batch.x.shape[0]!;
    const parts = this.#microBatches(n);
    let stop = this.o.signal?.aborted ?? false;
    this.optimizer.zeroGrad();
    for (const [k, { start, size }] of parts.entries()) {
      const last = k === parts.length - 1;
      // DDP's no_sync: gradients are reduced once, in the last micro-batch's backward.
      if (ddp) collective(ctx, at, () => ddp.beforeForward({ reduce: last }));
      // The loss's value when it is not finite (the run has diverged), else null; the micro-batch's backward done.
      const diverged = tidy((): number | null => {
        const { micro, logits, loss } = this.#forward(batch, start, size);
        // [Σ loss·images, correct] in float64 where the model is: nothing is read here.
        const own = loss
          ? stack([loss.detach().to('float64').mul(size), logits.argmax(1).eq(micro.y).sum().to('float64')])
          : tensor([Number.NaN, 0], { dtype: 'float64', device: this.device });
        // Over the ranks in a data-parallel run (before backward, so that they stop together).
        const r = this.placement.reduceSums(own, size, stop, at);
        stop = r.stop;
        this.#addUnread(r.sums, r.count, where.step);
        const value = loss ? r.nonFinite : Number.NaN;
        if (value !== null) return value;
        this.#backward(loss!, size, n);
        if (ddp && last) collective(ctx, at, () => ddp.averageGradients());
        return null;
      });
      if (diverged !== null) this.#stopOnLoss(diverged, at);
    }
    const read = this.placement.readsAt(where.step, { stop, last: where.last === true }) ? this.readStats(where.epoch, where.step) : null;
    this.#update();
    return { stop, read };
  }

  /** Micro-batch bounds (--accumulate): as even as the batch allows, a short last batch included. */
  #microBatches(n: number): Array<{ start: number; size: number }> {
    const parts = this.config.accumulate;
    return Array.from({ length: parts }, (_, k) => {
      const start = Math.round((k * n) / parts);
      return { start, size: Math.round(((k + 1) * n) / parts) - start };
    });
  }

  /** A micro-batch's logits and loss; the loss null where PyTorch's would be NaN from the logits (the run has diverged). In a tidy scope. */
  #forward(batch: { x: Tensor; y: Tensor; target?: Tensor }, start: number, size: number) {
    const whole = start === 0 && size === batch.x.shape[0];
    const micro = whole ? batch : { x: batch.x.narrow(0, start, size), y: batch.y.narrow(0, start, size), target: batch.target?.narrow(0, start, size) };
    const logits = logitsIn(this.precision, this.model, micro.x, { frozenBody: this.#frozen });
    try {
      return { micro, logits, loss: this.objective.loss(logits, micro) as Tensor | null };
    } catch (e) {
      if (!hasErrorCode(e, ErrorCode.nonFiniteLogits)) throw e;
      return { micro, logits, loss: null };
    }
  }

  /** Backward of a micro-batch's mean loss: the batch's mean is the size-weighted sum of its micro-batches' means. */
  #backward(loss: Tensor, size: number, n: number): void {
    (size === n ? loss : loss.mul(size / n)).backward();
  }

  /** After the gradients: the optimizer, a per-batch schedule, the average of the weights. */
  #update(): void {
    this.#updates++;
    this.optimizer.step();
    this.schedule.afterUpdate();
    this.ema?.update();
  }

  /** Adds a micro-batch's sums to those not read yet (kept beyond the step's scope). */
  #addUnread(sums: Tensor, count: number, step: number): void {
    if (!this.#unread) this.#unread = { sums: keep(sums), count, from: step };
    else {
      this.#unread.sums.add_(sums);
      this.#unread.count += count;
    }
  }

  /**
   * Reads the sums of the steps not read yet into the epoch's (waiting for the device), and returns
   * them; stops on a loss that is not finite. null when nothing was left to read.
   */
  readStats(epoch: number, step: number): StepSums | null {
    const unread = this.#unread;
    if (!unread) return null;
    this.#unread = null;
    const [loss, correct] = unread.sums.toFlatArray() as [number, number];
    unread.sums.dispose();
    if (!Number.isFinite(loss))
      this.#stopOnLoss(
        loss / unread.count,
        unread.from === step
          ? `at epoch ${epoch + 1}, batch ${step}`
          : `at epoch ${epoch + 1}, in batches ${unread.from}–${step} (read every ${this.readEvery} batches)`,
      );
    const s = this.progress.sums;
    s.loss += loss;
    s.correct += correct;
    s.count += unread.count;
    return { loss, correct, count: unread.count };
  }

  #stopOnLoss(loss: number, at: string): never {
    // A last.safetensors that an earlier run left (--overwrite) is not this run's.
    const saved = existsSync(this.paths.last) && (this.history.length > 0 || this.o.resume === true);
    const kept = saved ? `the last good checkpoint is ${this.paths.last}` : 'no epoch had finished, so there is no checkpoint';
    const causes = likelyCauses({
      config: this.config,
      pipeline: this.data.trainPipeline,
      imageSize: this.data.imageSize,
      beforeAnyUpdate: this.#updates === 0 && this.o.resume !== true,
    });
    const why = causes.length === 1 ? `Likely cause: ${causes[0]}` : `Likely causes: ${causes.map((c, i) => `(${i + 1}) ${c}`).join('; ')}`;
    throw new LossNotFiniteError(`the loss became ${loss} ${at}: training stopped; ${kept}. ${why}`, loss);
  }

  /** The model's validation metrics (the average's, with --ema); null without a validation set. Every rank calls it. */
  async validate(): Promise<Omit<EpochMetrics, 'epoch' | 'trainLoss' | 'trainAccuracy' | 'lr' | 'seconds' | 'imagesPerSecond' | 'wallSeconds'> | null> {
    if (!this.valLoader) return null;
    if (this.ddp) collective(this.ctx, `before validating epoch ${this.progress.epoch + 1}`, () => this.ddp!.syncBuffers());
    const measure = async (model: Classifier) => {
      const val = await collectOutputs(model, this.valLoader!, this.precision, this.ctx);
      const m = classificationMetrics(val.logits, val.labels);
      const loss = tidy(() => crossEntropy(val.logits, val.labels, { labelSmoothing: this.config.smoothing }).item());
      for (const t of [val.logits, val.features, val.labels]) t.dispose();
      return { valLoss: loss, valAccuracy: m.accuracy, valTop5: m.top5, valNll: m.nll, valEce: m.ece };
    };
    if (!this.ema) return measure(this.model);
    const trained = await measure(this.model);
    return { ...(await measure(this.ema.module)), modelValAccuracy: trained.valAccuracy };
  }

  /** Writes a checkpoint (rank 0; every rank takes part in gathering a loss's state). */
  saveCheckpoint(path: string): void {
    const loss = this.objective.stateDict?.(this.ctx) ?? null;
    try {
      if (this.lead)
        saveCheckpoint(path, {
          model: this.model,
          optimizer: this.optimizer,
          scheduler: this.schedule.scheduler,
          progress: this.progress,
          config: this.config,
          vocab: this.data.vocab.toJSON(),
          loss,
          ema: this.ema?.module ?? null,
          generators: generatorDevices(this.device),
        });
    } finally {
      for (const t of Object.values(loss ?? {})) t.dispose();
    }
  }

  /** Runs the epochs left. */
  async fit(): Promise<TrainResult> {
    const { config, callbacks: cbs, paths } = this;
    const result = (status: TrainResult['status']): TrainResult => ({
      status,
      epochs: this.history,
      model: this.#finalModel(),
      data: this.data,
      plan: this.plan,
      config: this.config,
    });
    try {
      for (let epoch = this.progress.epoch; epoch < config.epochs; epoch++) {
        if (this.o.stopAfterEpochs !== undefined && epoch >= this.o.stopAfterEpochs) return result('interrupted');
        this.enterEpoch(epoch);
        for (const c of cbs) c.onEpochStart?.(this, epoch);
        const epochStart = performance.now();
        // Batches done before an interrupt are skipped, undecoded-to-device; the count goes on from them.
        let step = this.progress.step;
        const steps = this.trainLoader.length;
        for await (const batch of this.trainLoader.epoch(epoch, { skip: step })) {
          step += 1;
          const t0 = performance.now();
          let r: StepResult;
          try {
            r = this.step(batch, { epoch, step, last: step >= steps });
          } finally {
            batch.dispose();
          }
          this.progress.step = step;
          const s = this.progress.sums;
          s.seconds += (performance.now() - t0) / 1000;
          if (r.read) for (const c of cbs) c.onStep?.(this, { epoch, step, steps, sums: s });
          // Let the event loop run (a Ctrl-C handler) even when batches are decoded on this thread.
          await new Promise((resolve) => setImmediate(resolve));
          if (r.stop) {
            this.saveCheckpoint(paths.last);
            for (const c of cbs) c.onInterrupt?.(this, paths.last);
            return result('interrupted');
          }
        }
        this.readStats(epoch, this.progress.step);
        this.#timePhase(epoch, step);
        await this.#endEpoch(epoch, (performance.now() - epochStart) / 1000);
      }
      const bad = [...this.data.missing, ...this.trainLoader.badImages, ...(this.valLoader?.badImages ?? [])];
      if (bad.length && this.lead) {
        writeFileAtomic(join(config.out, 'bad-images.txt'), bad.map((l) => `${l}\n`).join(''));
        this.log?.(`skipped ${bad.length} unreadable image${bad.length > 1 ? 's' : ''}, listed in ${join(config.out, 'bad-images.txt')}`);
      }
      return result('finished');
    } finally {
      try {
        await this.close();
      } finally {
        this.#lock?.release();
      }
    }
  }

  /**
   * Adds the epoch's steps to its phase's and, at a phase's last epoch under --freeze-epochs, logs
   * the phase's speed: frozen steps skip the body's backward and are several times faster.
   */
  #timePhase(epoch: number, steps: number): void {
    const s = this.progress.sums;
    this.#phase = { steps: this.#phase.steps + steps, seconds: this.#phase.seconds + s.seconds, images: this.#phase.images + s.count };
    const n = this.config.freezeEpochs;
    if (n === 0 || (epoch !== n - 1 && epoch !== this.config.epochs - 1)) return;
    const { steps: k, seconds, images } = this.#phase;
    const which = epoch < n ? `frozen (epochs 1–${n}, the head alone)` : `whole model (epochs ${n + 1}–${this.config.epochs})`;
    if (k > 0) this.log?.(`${which}: ${((seconds / k) * 1000).toFixed(1)} ms/step, ${(images / seconds).toFixed(0)} img/s over ${k} steps`);
    this.#phase = { steps: 0, seconds: 0, images: 0 };
  }

  async #endEpoch(epoch: number, wallSeconds: number): Promise<void> {
    const lr = this.schedule.lastBatchRate();
    const val = await this.validate();
    const s = this.progress.sums;
    const metrics: EpochMetrics = {
      epoch: epoch + 1,
      trainLoss: s.loss / s.count,
      trainAccuracy: s.correct / s.count,
      ...(val ?? { valLoss: null, valAccuracy: null, valTop5: null, valNll: null, valEce: null }),
      lr,
      seconds: s.seconds,
      imagesPerSecond: s.count / s.seconds,
      wallSeconds,
    };
    this.history.push(metrics);
    if (this.lead) this.#writeMetrics();
    this.schedule.afterEpoch();
    this.objective.endEpoch?.(this.ctx);
    const accuracy = val?.valAccuracy ?? null;
    this.progress = {
      epoch: epoch + 1,
      step: 0,
      sums: emptySums(),
      bestAccuracy: accuracy === null ? this.progress.bestAccuracy : Math.max(this.progress.bestAccuracy, accuracy),
    };
    // `best` before `last`: a failure between the two (disk full, a kill) leaves `last` at the
    // previous epoch, which a resume redoes, and never a `last` that claims a best `best` lacks.
    if (accuracy !== null && accuracy >= this.progress.bestAccuracy) this.saveCheckpoint(this.paths.best);
    this.saveCheckpoint(this.paths.last);
    for (const c of this.callbacks) c.onEpochEnd?.(this, metrics);
  }

  /** The model a run hands on: the average with --ema (the trained weights are freed), else the trained one. */
  #finalModel(): Classifier {
    if (!this.ema) return this.model;
    this.model.dispose();
    return this.ema.module;
  }

  /** Stops the loaders' workers and frees the loss's state (fit does it at its end). */
  async close(): Promise<void> {
    await this.trainLoader.close();
    await this.valLoader?.close();
    this.objective.dispose?.();
    this.ddp?.dispose();
    this.#unread?.sums.dispose();
    this.#unread = null;
    // The optimizer's state (momentum, Adam's moments: a model's size again, or twice) on its device now, not when the GC gets to it.
    this.optimizer.dispose();
  }
}

/** A training run from its configuration: `(await Trainer.create(config, o)).fit()`. */
export async function train(config: TrainConfig, o: TrainOptions = {}): Promise<TrainResult> {
  return (await Trainer.create(config, o)).fit();
}

/** The options of `config` that differ from those the run recorded in config.json (`recorded`, as written) when it started. */
function changedSince(recorded: Record<string, unknown>, config: TrainConfig): Array<{ key: string; was: unknown; now: unknown }> {
  const now = { ...config, precision: resolvePrecision(config.precision, config.device).precision } as unknown as Record<string, unknown>;
  return Object.keys(now)
    .filter((k) => k !== 'out' && k in recorded && JSON.stringify(recorded[k]) !== JSON.stringify(now[k]))
    .map((k) => ({ key: k, was: recorded[k], now: now[k] }));
}

/**
 * metrics.jsonl's epochs. A last line cut short by a crash is dropped, `warn` told (stderr by
 * default); any other line that is not an epoch's metrics is an error naming the file and line.
 */
export function readMetrics(path: string, warn: ((line: string) => void) | null = (line) => process.stderr.write(`${line}\n`)): EpochMetrics[] {
  const { entries, tornTail } = readJsonLines(path, (v, where) => {
    const epoch = (v as { epoch?: unknown } | null)?.epoch;
    if (typeof v !== 'object' || Array.isArray(v) || !Number.isInteger(epoch) || (epoch as number) < 1)
      throw new BadInputError(
        `${where}: not an epoch's metrics (a JSON object with its "epoch" ≥ 1); only a last line cut short by a crash is dropped: fix or delete this line`,
      );
    return v as EpochMetrics;
  });
  if (tornTail !== null) warn?.(tornTailWarning(path, tornTail));
  return entries;
}
