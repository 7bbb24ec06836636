// A training run: epochs of SGD/AdamW on label-smoothed cross-entropy, validation metrics each
// epoch, metrics.jsonl, `last` and `best` checkpoints, resume to the same end as a straight run,
// an interrupt that saves where it stands, and a stop on a non-finite loss.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as data from '../data/index.js';
import { type Tensor, autocast, availableCores, cat, clearAutocastCache, inferenceMode, manualSeed, noGrad, resolvePrecision, setNumThreads, tidy } from '../engine/index.js';
import { classificationMetrics } from '../eval/index.js';
import { writeFileAtomic } from '../io/index.js';
import { OnlineLabelSmoothing, crossEntropy, distillationLoss } from '../losses/index.js';
import { AdamW, CosineAnnealingLR, type LRScheduler, type Optimizer, SGD, StepLR } from '../optim/index.js';
import type { TrainConfig } from './config.js';
import { type Progress, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { ProgressBar } from './progress.js';
import { type Classifier, buildModel, prepareData } from './setup.js';

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
}

export interface TrainResult {
  status: 'finished' | 'interrupted' | 'stopped';
  epochs: EpochMetrics[];
  model: Classifier;
  data: ReturnType<typeof prepareData>;
}

/**
 * The forward pass in a run's precision: under bf16 autocast with channels_last input (the
 * model's weights stay float32), logits returned in float32 so that the loss is computed in fp32.
 */
export function forwardIn(precision: 'fp32' | 'bf16', fn: (x: Tensor) => Tensor, x: Tensor, o: { keepCache?: boolean } = {}): Tensor {
  if (precision === 'fp32') return fn(x);
  return tidy(() => autocast({ dtype: 'bfloat16', keepCache: o.keepCache }, () => fn(x.ndim === 4 ? x.contiguous('channels_last') : x)).to('float32'));
}

/** Model outputs over a loader in inference mode: logits [N, C], penultimate features [N, D], labels [N]. */
export async function collectOutputs(model: Classifier, loader: data.DataLoader, precision: 'fp32' | 'bf16' = 'fp32'): Promise<{ logits: Tensor; features: Tensor; labels: Tensor }> {
  model.eval();
  const logits: Tensor[] = [];
  const features: Tensor[] = [];
  const labels: Tensor[] = [];
  try {
    for await (const b of loader.epoch(0)) {
      // The weights do not change between batches: their bf16 copies are made once.
      const [f, z] = tidy(() => inferenceMode(() => {
        const feat = forwardIn(precision, (x) => model.features(x), b.x, { keepCache: true });
        return [feat, forwardIn(precision, (h) => model.fc.forward(h), feat, { keepCache: true })];
      }));
      features.push(f!);
      logits.push(z!);
      labels.push(b.y);
      b.x.dispose();
    }
  } finally {
    clearAutocastCache();
  }
  // cat outside inference mode: the results are ordinary tensors again.
  const out = tidy(() => ({ logits: cat(logits), features: cat(features), labels: cat(labels) }));
  for (const t of [...logits, ...features, ...labels]) t.dispose();
  return out;
}

export async function train(config: TrainConfig, o: TrainOptions = {}): Promise<TrainResult> {
  const log = o.log === undefined ? (line: string) => process.stderr.write(`${line}\n`) : o.log;
  setNumThreads(config.threads || availableCores());
  manualSeed(config.seed);
  const { precision, reason } = resolvePrecision(config.precision);
  log?.(`precision: ${precision}${precision === 'bf16' ? ' autocast, channels_last' : ''} (${config.precision === 'auto' ? `auto: ${reason}` : 'chosen'}); ${config.threads || availableCores()} threads`);
  const prepared = prepareData(config);
  const { vocab, train: trainSet, val: valSet } = prepared;
  const model = buildModel(config, vocab.size);
  if (precision === 'bf16') model.to('channels_last');
  const optimizer: Optimizer<{ lr: number }> =
    config.optimizer === 'sgd'
      ? new SGD(model.parameters(), { lr: config.lr, momentum: config.momentum, weightDecay: config.weightDecay })
      : new AdamW(model.parameters(), { lr: config.lr, weightDecay: config.weightDecay });
  const scheduler: LRScheduler | null =
    config.scheduler === 'cosine' ? new CosineAnnealingLR(optimizer, config.epochs)
    : config.scheduler === 'step' ? new StepLR(optimizer, Math.max(1, Math.round(config.epochs / 3)), 0.1)
    : null;

  const ols = config.loss === 'online-label-smoothing' ? new OnlineLabelSmoothing(vocab.size, config.olsAlpha, config.smoothing) : null;
  const lossState = ols && {
    stateDict: () => ({ ...ols.stateDict() }),
    loadStateDict: (st: Record<string, Tensor>) => ols.loadStateDict({ supervise: st.supervise!, update: st.update!, counts: st.counts! }),
  };
  mkdirSync(config.out, { recursive: true });
  const lastPath = join(config.out, 'last.safetensors');
  const bestPath = join(config.out, 'best.safetensors');
  const metricsPath = join(config.out, 'metrics.jsonl');
  let progress: Progress = { epoch: 0, step: 0, sums: { loss: 0, correct: 0, count: 0, seconds: 0 }, bestAccuracy: -1 };
  let history: EpochMetrics[] = [];
  if (o.resume) {
    if (!existsSync(lastPath)) throw new Error(`--resume: ${lastPath} does not exist`);
    const ckpt = loadCheckpoint(lastPath);
    ckpt.restore({ model, optimizer, scheduler, loss: lossState });
    progress = ckpt.meta.progress;
    ckpt.dispose();
    history = existsSync(metricsPath) ? readMetrics(metricsPath).filter((m) => m.epoch <= progress.epoch) : [];
    log?.(`resuming ${config.out} at epoch ${progress.epoch + 1}, batch ${progress.step}`);
  } else {
    // The run's config records the precision it ran in, not 'auto'.
    writeFileAtomic(join(config.out, 'config.json'), `${JSON.stringify({ ...config, precision }, null, 2)}\n`);
    writeFileAtomic(join(config.out, 'vocab.json'), `${JSON.stringify(vocab.toJSON())}\n`);
    if (prepared.missing.length) writeFileAtomic(join(config.out, 'bad-images.txt'), prepared.missing.map((l) => `${l}\n`).join(''));
  }
  const checkpoint = (path: string) => saveCheckpoint(path, { model, optimizer, scheduler, progress, config, vocab: vocab.toJSON(), loss: lossState });

  const trainLoader = new data.DataLoader(trainSet, {
    batchSize: config.batchSize, pipeline: prepared.trainPipeline, shuffle: true, dropLast: trainSet.length > config.batchSize,
    seed: config.seed, workers: config.workers, skipBadImages: config.skipBadImages,
  });
  const valLoader = new data.DataLoader(valSet, { batchSize: config.batchSize, pipeline: prepared.evalPipeline, workers: config.workers, skipBadImages: config.skipBadImages });
  o.teacher?.model.eval();
  if (precision === 'bf16') o.teacher?.model.to('channels_last');
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
        const [loss, correct] = tidy(() => {
          const logits = forwardIn(precision, (x) => model.forward(x), batch.x);
          let l: Tensor;
          try {
            if (o.teacher) {
              const { model: teacher, temperature, beta } = o.teacher;
              const teacherLogits = noGrad(() => forwardIn(precision, (x) => teacher.forward(x), batch.x));
              l = distillationLoss(logits, teacherLogits, batch.y, { beta, temperature, labelSmoothing: config.smoothing });
            } else if (ols) l = ols.forward(logits, batch.y);
            else l = crossEntropy(logits, batch.y, { labelSmoothing: config.smoothing });
          } catch (e) {
            // Logits that PyTorch would turn into a NaN loss: the run has diverged.
            if (/NaN or \+Inf logits/.test((e as Error).message)) return [NaN, 0];
            throw e;
          }
          const value = l.item();
          if (!Number.isFinite(value)) return [value, 0];
          l.backward();
          return [value, logits.argmax(1).eq(batch.y).sum().item()];
        });
        const n = batch.x.shape[0]!;
        batch.dispose();
        if (!Number.isFinite(loss)) {
          status = 'stopped';
          const kept = existsSync(lastPath) ? `the last good checkpoint is ${lastPath}` : 'no epoch had finished, so there is no checkpoint';
          throw new Error(`the loss became ${loss} at epoch ${epoch + 1}, batch ${step}: training stopped; ${kept} (try a lower --lr)`);
        }
        optimizer.step();
        const s = progress.sums;
        s.loss += loss * n;
        s.correct += correct;
        s.count += n;
        s.seconds += (performance.now() - t0) / 1000;
        progress.step = step;
        bar.update(step, { loss: s.loss / s.count, acc: s.correct / s.count, imagesPerSecond: s.count / s.seconds });
        if (o.signal?.aborted) {
          checkpoint(lastPath);
          bar.finish(`interrupted: saved ${lastPath} (resume with --resume)`);
          status = 'interrupted';
          return { status, epochs: history, model, data: prepared };
        }
      }
      const lr = optimizer.paramGroups[0]!.lr;
      const val = await collectOutputs(model, valLoader, precision);
      const m = classificationMetrics(val.logits, val.labels);
      const valLoss = tidy(() => crossEntropy(val.logits, val.labels, { labelSmoothing: config.smoothing }).item());
      for (const t of Object.values(val)) t.dispose();
      const s = progress.sums;
      const metrics: EpochMetrics = {
        epoch: epoch + 1, trainLoss: s.loss / s.count, trainAccuracy: s.correct / s.count,
        valLoss, valAccuracy: m.accuracy, valTop5: m.top5, valNll: m.nll, valEce: m.ece,
        lr, seconds: s.seconds, imagesPerSecond: s.count / s.seconds,
      };
      history.push(metrics);
      writeFileAtomic(metricsPath, history.map((h) => `${JSON.stringify(h)}\n`).join(''));
      scheduler?.step();
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
    if (bad.length) {
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

export function readMetrics(path: string): EpochMetrics[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as EpochMetrics);
}
