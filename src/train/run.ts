// A training run: epochs of SGD/AdamW on label-smoothed cross-entropy, validation metrics each
// epoch, metrics.jsonl, `last` and `best` checkpoints, resume to the same end as a straight run,
// an interrupt that saves where it stands, and a stop on a non-finite loss.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as data from '../data/index.js';
import { type DistContext, DistributedDataParallel, collective, gatherRows, threadsPerProcess } from '../distributed/index.js';
import { BadInputError, ErrorCode, type ResolvedPrecision, type Tensor, autocast, cat, clearAutocastCache, dist, hasErrorCode, inferenceMode, manualSeed, noGrad, resolvePrecision, setNumThreads, tensor, tidy } from '../engine/index.js';
import { classificationMetrics } from '../eval/index.js';
import { writeFileAtomic } from '../io/index.js';
import { OnlineLabelSmoothing, type OnlineLabelSmoothingState, crossEntropy, distillationLoss } from '../losses/index.js';
import { type TrainConfig, kebab } from './config.js';
import { type Progress, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { ProgressBar } from './progress.js';
import type { Classifier } from '../models/index.js';
import { OPTIMIZERS, SCHEDULERS } from './registry.js';
import { buildModel, prepareData } from './setup.js';

export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number;
  valAccuracy: number;
  valTop5: number;
  valNll: number;
  valEce: number;
  lr: number;
  seconds: number;
  imagesPerSecond: number;
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
}

export interface TrainResult {
  status: 'finished' | 'interrupted' | 'stopped';
  epochs: EpochMetrics[];
  model: Classifier;
  data: ReturnType<typeof prepareData>;
}

/**
 * fn in a run's precision: under bf16 autocast with channels_last input (the model's weights
 * stay float32), its output returned in float32 so that what follows (the head, the loss) runs in fp32.
 */
export function forwardIn(precision: ResolvedPrecision, fn: (x: Tensor) => Tensor, x: Tensor, o: { keepCache?: boolean } = {}): Tensor {
  if (precision === 'fp32') return fn(x);
  if (precision === 'fp64') return tidy(() => fn(x.to('float64')));
  return tidy(() => autocast({ dtype: 'bfloat16', keepCache: o.keepCache }, () => fn(x.ndim === 4 ? x.contiguous('channels_last') : x)).to('float32'));
}

/**
 * A classifier's logits in a run's precision. Under bf16 only the feature extractor runs in
 * autocast: the head (fc) runs in float32 on float32 features, since bf16 logits carry an
 * absolute error of ~0.03 at magnitude 8, which is what the (smoothed) loss reads.
 */
export function logitsIn(precision: ResolvedPrecision, model: Classifier, x: Tensor, o: { keepCache?: boolean } = {}): Tensor {
  if (precision !== 'bf16') return forwardIn(precision, (v) => model.forward(v), x, o);
  return tidy(() => model.fc.forward(forwardIn(precision, (v) => model.features(v), x, o)));
}

export interface Outputs {
  logits: Tensor;
  features: Tensor;
  labels: Tensor;
  /** The dataset position of each row. */
  indices: number[];
}

/**
 * Model outputs over a loader in inference mode: logits [N, C], penultimate features [N, D],
 * labels [N]. In a data-parallel run, pass the context and a loader sharded without padding:
 * every rank gets all rows, in dataset order.
 */
export async function collectOutputs(model: Classifier, loader: data.DataLoader, precision: ResolvedPrecision = 'fp32', ctx: DistContext | null = null): Promise<Outputs> {
  model.eval();
  const logits: Tensor[] = [];
  const features: Tensor[] = [];
  const labels: Tensor[] = [];
  const indices: number[] = [];
  try {
    for await (const b of loader.epoch(0)) {
      // The weights do not change between batches: their bf16 copies are made once.
      const [f, z] = tidy(() => inferenceMode(() => {
        const feat = forwardIn(precision, (x) => model.features(x), b.x, { keepCache: true });
        return [feat, model.fc.forward(feat)];
      }));
      features.push(f!);
      logits.push(z!);
      labels.push(b.y);
      indices.push(...b.indices);
      b.x.dispose();
    }
  } finally {
    clearAutocastCache();
  }
  // cat outside inference mode: the results are ordinary tensors again.
  const out = tidy(() => ({ logits: cat(logits), features: cat(features), labels: cat(labels) }));
  for (const t of [...logits, ...features, ...labels]) t.dispose();
  if (!ctx) return { ...out, indices };
  const gathered = collective(ctx, 'gathering evaluation outputs', () => gatherRows([out.logits, out.features, out.labels], indices, ctx));
  for (const t of Object.values(out)) t.dispose();
  const [l, f, y] = gathered.tensors as [Tensor, Tensor, Tensor];
  return { logits: l, features: f, labels: y, indices: gathered.positions };
}

/** An evaluation loader: in a data-parallel run, this rank's unpadded share. */
export function evalLoader(dataset: data.SampleList, config: TrainConfig, pipeline: data.Pipeline, ctx: DistContext | null = null): data.DataLoader {
  return new data.DataLoader(dataset, {
    batchSize: config.batchSize, pipeline, workers: config.workers, skipBadImages: config.skipBadImages,
    shard: ctx && ctx.worldSize > 1 ? { rank: ctx.rank, count: ctx.worldSize, pad: false } : null,
  });
}

export async function train(config: TrainConfig, o: TrainOptions = {}): Promise<TrainResult> {
  const ctx = o.dist && dist.processGroup() ? o.dist : null;
  const world = ctx?.worldSize ?? 1;
  const lead = !ctx || ctx.rank === 0;
  const log = !lead ? null : o.log === undefined ? (line: string) => process.stderr.write(`${line}\n`) : o.log;
  if (config.batchSize % world !== 0)
    throw new Error(`--batch-size ${config.batchSize} must be a multiple of the number of processes (${world}): it is the global batch, split evenly among them`);
  const holdsRun = existsSync(join(config.out, 'config.json')) || existsSync(join(config.out, 'last.safetensors'));
  // Rank 0 alone: the others may already see the config.json it writes.
  if (lead && holdsRun && !o.resume && !o.overwrite)
    throw new BadInputError(`--out ${config.out} already holds a run: --resume continues it, --overwrite starts it afresh, or choose another --out`);
  const threads = threadsPerProcess(ctx, config.threads);
  setNumThreads(threads);
  manualSeed(config.seed);
  const { precision, reason } = resolvePrecision(config.precision);
  log?.(`precision: ${precision}${precision === 'bf16' ? ' autocast, channels_last' : ''} (${config.precision === 'auto' ? `auto: ${reason}` : 'chosen'}); ${threads} threads${ctx ? ` in each of ${world} process${world > 1 ? 'es' : ''} (global batch ${config.batchSize}, ${config.batchSize / world} per process${config.syncBn ? ', synchronised BatchNorm' : ''})` : ''}`);
  const prepared = prepareData(config);
  const { vocab, train: trainSet, val: valSet } = prepared;
  const model = buildModel(config, vocab.size);
  if (precision === 'bf16') model.to('channels_last');
  if (precision === 'fp64') model.to('float64');
  const optimizer = OPTIMIZERS.get(config.optimizer)(model.parameters(), { lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay });
  // Built before the scheduler, which counts its batches (its workers start with the first epoch).
  const perRank = config.batchSize / world;
  const trainLoader = new data.DataLoader(trainSet, {
    batchSize: perRank, pipeline: prepared.trainPipeline, shuffle: true, dropLast: trainSet.length > config.batchSize,
    seed: config.seed, workers: config.workers, skipBadImages: config.skipBadImages,
    shard: ctx && world > 1 ? { rank: ctx.rank, count: world, pad: true } : null,
  });
  const schedule = SCHEDULERS.get(config.scheduler);
  const scheduler = schedule.build(optimizer, { epochs: config.epochs, batchesPerEpoch: trainLoader.length, lr: config.lr });
  const stepPerBatch = schedule.perBatch;

  const ols = config.loss === 'online-label-smoothing' ? new OnlineLabelSmoothing(vocab.size, config.olsAlpha, config.smoothing) : null;
  const lossState = ols && {
    stateDict: () => ({ ...ols.stateDict() }),
    loadStateDict: (st: Record<string, Tensor>) => ols.loadStateDict({ supervise: st.supervise!, update: st.update!, counts: st.counts! }),
  };
  if (lead) mkdirSync(config.out, { recursive: true });
  const lastPath = join(config.out, 'last.safetensors');
  const bestPath = join(config.out, 'best.safetensors');
  const metricsPath = join(config.out, 'metrics.jsonl');
  let progress: Progress = { epoch: 0, step: 0, sums: { loss: 0, correct: 0, count: 0, seconds: 0 }, bestAccuracy: -1 };
  let history: EpochMetrics[] = [];
  if (o.resume) {
    if (!existsSync(lastPath)) throw new Error(`--resume: ${lastPath} does not exist${lead ? '' : ` on this machine (rank ${ctx!.rank}): every rank reads the checkpoint, so --out must be a folder all machines share`}`);
    const changed = lead ? changedSince(join(config.out, 'config.json'), config) : [];
    const ckpt = loadCheckpoint(lastPath);
    ckpt.restore({ model, optimizer, scheduler, loss: lossState });
    progress = ckpt.meta.progress;
    ckpt.dispose();
    // Online Label Smoothing's epoch sums were saved summed over ranks: rank 0 carries them on.
    if (ols && !lead) {
      const st = ols.stateDict();
      st.update.zero_();
      st.counts.zero_();
      ols.loadStateDict(st);
      for (const t of Object.values(st)) t.dispose();
    }
    history = existsSync(metricsPath) ? readMetrics(metricsPath).filter((m) => m.epoch <= progress.epoch) : [];
    log?.(`resuming ${config.out} at epoch ${progress.epoch + 1}, batch ${progress.step}`);
    if (changed.length) {
      log?.(`warning: --resume with options changed since the run started: ${changed.map((c) => `--${kebab(c.key)} ${JSON.stringify(c.was)} → ${JSON.stringify(c.now)}`).join(', ')} (recorded in resumes.jsonl)`);
      appendFileSync(join(config.out, 'resumes.jsonl'), `${JSON.stringify({ epoch: progress.epoch, step: progress.step, changed })}\n`);
    }
  } else if (lead) {
    rmSync(join(config.out, 'resumes.jsonl'), { force: true });
    // The run's config records the precision it ran in, not 'auto'.
    writeFileAtomic(join(config.out, 'config.json'), `${JSON.stringify({ ...config, precision }, null, 2)}\n`);
    writeFileAtomic(join(config.out, 'vocab.json'), `${JSON.stringify(vocab.toJSON())}\n`);
    if (prepared.missing.length) writeFileAtomic(join(config.out, 'bad-images.txt'), prepared.missing.map((l) => `${l}\n`).join(''));
  }
  // Every rank starts from rank 0's weights: broadcast after any resume.
  const ddp = ctx && collective(ctx, 'broadcasting the initial weights', () => new DistributedDataParallel(model, { syncBatchNorm: config.syncBn }));
  const olsSums = (): OnlineLabelSmoothingState | null => {
    if (!ols) return null;
    const st = ols.stateDict();
    if (ctx) collective(ctx, 'summing the label-smoothing statistics', () => dist.allReduce([st.update!, st.counts!], 'sum'));
    return st;
  };
  const checkpoint = (path: string, lossStateOverride?: OnlineLabelSmoothingState | null) => {
    if (!lead) return;
    const loss = lossStateOverride ? { stateDict: () => ({ ...lossStateOverride }), loadStateDict: () => {} } : lossState;
    saveCheckpoint(path, { model, optimizer, scheduler, progress, config, vocab: vocab.toJSON(), loss });
  };

  const valLoader = evalLoader(valSet, config, prepared.evalPipeline, ctx);
  o.teacher?.model.eval();
  if (precision === 'bf16') o.teacher?.model.to('channels_last');
  if (precision === 'fp64') o.teacher?.model.to('float64');
  let status: TrainResult['status'] = 'finished';
  try {
    for (let epoch = progress.epoch; epoch < config.epochs; epoch++) {
      if (o.stopAfterEpochs !== undefined && epoch >= o.stopAfterEpochs) {
        status = 'interrupted';
        break;
      }
      model.train();
      const bar = new ProgressBar(`epoch ${epoch + 1}/${config.epochs}`, trainLoader.length, log, o.tty);
      let step = 0;
      for await (const batch of trainLoader.epoch(epoch)) {
        if (step++ < progress.step) {
          batch.dispose();
          continue; // batches done before an interrupt
        }
        const t0 = performance.now();
        optimizer.zeroGrad();
        if (ddp) collective(ctx, `at epoch ${epoch + 1}, batch ${step}`, () => ddp.beforeForward());
        // [Σ loss, correct, images, stop requested]: this rank's, then (data-parallel) all ranks'.
        const [lossSum, correct, n, stop] = tidy(() => {
          const logits = logitsIn(precision, model, batch.x);
          const nLocal = batch.x.shape[0]!;
          let l: Tensor | null = null;
          try {
            if (o.teacher) {
              const { model: teacher, temperature, beta } = o.teacher;
              const teacherLogits = noGrad(() => logitsIn(precision, teacher, batch.x));
              l = distillationLoss(logits, teacherLogits, batch.y, { beta, temperature, labelSmoothing: config.smoothing });
            } else if (ols) l = ols.forward(logits, batch.y);
            else l = crossEntropy(logits, batch.y, { labelSmoothing: config.smoothing });
          } catch (e) {
            // Logits that PyTorch would turn into a NaN loss: the run has diverged.
            if (!hasErrorCode(e, ErrorCode.nonFiniteLogits)) throw e;
          }
          const value = l ? l.item() : NaN;
          const correctLocal = Number.isFinite(value) ? logits.argmax(1).eq(batch.y).sum().item() : 0;
          let stats = [value * nLocal, correctLocal, nLocal, o.signal?.aborted ? 1 : 0];
          if (ctx) {
            // Before backward, so that a rank whose loss is not finite stops together with the others.
            const t = tensor(stats, { dtype: 'float64' });
            collective(ctx, `at epoch ${epoch + 1}, batch ${step}`, () => dist.allReduce([t], 'sum'));
            stats = t.toFlatArray();
          }
          if (!Number.isFinite(stats[0]!)) return stats;
          l!.backward();
          if (ddp) collective(ctx, `at epoch ${epoch + 1}, batch ${step}`, () => ddp.averageGradients());
          return stats;
        }) as [number, number, number, number];
        batch.dispose();
        const loss = lossSum / n;
        if (!Number.isFinite(loss)) {
          status = 'stopped';
          const kept = existsSync(lastPath) ? `the last good checkpoint is ${lastPath}` : 'no epoch had finished, so there is no checkpoint';
          throw new Error(`the loss became ${loss} at epoch ${epoch + 1}, batch ${step}: training stopped; ${kept} (try a lower --lr)`);
        }
        optimizer.step();
        if (stepPerBatch) scheduler?.step();
        const s = progress.sums;
        s.loss += lossSum;
        s.correct += correct;
        s.count += n;
        s.seconds += (performance.now() - t0) / 1000;
        progress.step = step;
        bar.update(step, { loss: s.loss / s.count, acc: s.correct / s.count, imagesPerSecond: s.count / s.seconds });
        // Let the event loop run (a Ctrl-C handler) even when batches are decoded on this thread.
        await new Promise((resolve) => setImmediate(resolve));
        if (stop > 0) {
          const sums = olsSums();
          checkpoint(lastPath, sums);
          for (const t of Object.values(sums ?? {})) t.dispose();
          bar.finish(`interrupted: saved ${lastPath} (resume with --resume)`);
          status = 'interrupted';
          return { status, epochs: history, model, data: prepared };
        }
      }
      // The rate of the epoch's last batch (a per-batch schedule has already stepped past it).
      const lr = stepPerBatch && scheduler ? scheduler.lrAt(scheduler.lastEpoch - 1, 0) : optimizer.paramGroups[0]!.lr;
      if (ddp) collective(ctx, `before validating epoch ${epoch + 1}`, () => ddp.syncBuffers());
      const val = await collectOutputs(model, valLoader, precision, ctx);
      const m = classificationMetrics(val.logits, val.labels);
      const valLoss = tidy(() => crossEntropy(val.logits, val.labels, { labelSmoothing: config.smoothing }).item());
      for (const t of [val.logits, val.features, val.labels]) t.dispose();
      const s = progress.sums;
      const metrics: EpochMetrics = {
        epoch: epoch + 1, trainLoss: s.loss / s.count, trainAccuracy: s.correct / s.count,
        valLoss, valAccuracy: m.accuracy, valTop5: m.top5, valNll: m.nll, valEce: m.ece,
        lr, seconds: s.seconds, imagesPerSecond: s.count / s.seconds,
      };
      history.push(metrics);
      if (lead) writeFileAtomic(metricsPath, history.map((h) => `${JSON.stringify(h)}\n`).join(''));
      if (!stepPerBatch) scheduler?.step();
      if (ols && ctx) {
        const st = olsSums()!;
        ols.loadStateDict(st);
        for (const t of Object.values(st)) t.dispose();
      }
      ols?.nextEpoch();
      progress = { epoch: epoch + 1, step: 0, sums: { loss: 0, correct: 0, count: 0, seconds: 0 }, bestAccuracy: Math.max(progress.bestAccuracy, m.accuracy) };
      checkpoint(lastPath);
      if (m.accuracy >= progress.bestAccuracy) checkpoint(bestPath);
      bar.finish(
        `train loss ${metrics.trainLoss.toFixed(4)} acc ${(metrics.trainAccuracy * 100).toFixed(2)}% | val loss ${valLoss.toFixed(4)} ` +
          `acc ${(m.accuracy * 100).toFixed(2)}% NLL ${m.nll.toFixed(4)} ECE ${(m.ece * 100).toFixed(2)}% | ${metrics.imagesPerSecond.toFixed(0)} img/s`,
      );
    }
    const bad = [...prepared.missing, ...trainLoader.badImages, ...valLoader.badImages];
    if (bad.length && lead) {
      writeFileAtomic(join(config.out, 'bad-images.txt'), bad.map((l) => `${l}\n`).join(''));
      log?.(`skipped ${bad.length} unreadable image${bad.length > 1 ? 's' : ''}, listed in ${join(config.out, 'bad-images.txt')}`);
    }
  } finally {
    await trainLoader.close();
    await valLoader.close();
    ols?.dispose();
  }
  return { status, epochs: history, model, data: prepared };
}

/** The options of `config` that differ from those the run recorded in config.json when it started. */
function changedSince(path: string, config: TrainConfig): Array<{ key: string; was: unknown; now: unknown }> {
  if (!existsSync(path)) return [];
  const recorded = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const now = { ...config, precision: resolvePrecision(config.precision).precision } as unknown as Record<string, unknown>;
  return Object.keys(now)
    .filter((k) => k !== 'out' && k in recorded && JSON.stringify(recorded[k]) !== JSON.stringify(now[k]))
    .map((k) => ({ key: k, was: recorded[k], now: now[k] }));
}

export function readMetrics(path: string): EpochMetrics[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as EpochMetrics);
}
