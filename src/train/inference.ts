// A model's outputs over a dataset (logits, penultimate features, labels), in a run's precision and
// across the ranks of a data-parallel run; a trained run loaded back from its folder.
import * as data from '../data/index.js';
import { type DistContext, collective, gatherRows } from '../distributed/index.js';
import {
  type Device,
  type ResolvedPrecision,
  type Tensor,
  cat,
  clearAutocastCache,
  dist,
  inferenceMode,
  resolveDevice,
  resolvePrecision,
  tidy,
} from '../engine/index.js';
import type { Classifier } from '../models/index.js';
import type { TrainConfig } from './config.js';
import { Placement } from './placement.js';
import { forwardIn, logitsIn } from './precision.js';
import type { Recipe } from './recipe.js';
import { loadWeightsInto, readRunFolder } from './run-folder.js';
import { buildModel } from './setup.js';

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
export async function collectOutputs(
  model: Classifier,
  loader: data.DeviceLoader,
  precision: ResolvedPrecision = 'fp32',
  ctx: DistContext | null = null,
): Promise<Outputs> {
  model.eval();
  // The loader's batches arrive where the model is; the outputs come back to the CPU once, at the end.
  const device = loader.device;
  const logits: Tensor[] = [];
  const features: Tensor[] = [];
  const labels: Tensor[] = [];
  const indices: number[] = [];
  try {
    for await (const b of loader.epoch(0)) {
      try {
        // The weights do not change between batches: their bf16 copies are made once.
        const [f, z, y] = tidy(() =>
          inferenceMode(() => {
            const feat = forwardIn(precision, (x) => model.features(x), b.x, { keepCache: true });
            return [feat, model.fc.forward(feat), b.y.clone()];
          }),
        );
        features.push(f!);
        logits.push(z!);
        labels.push(y!);
        indices.push(...b.indices);
      } finally {
        b.dispose();
      }
    }
  } finally {
    clearAutocastCache();
  }
  // cat outside inference mode: the results are ordinary tensors again.
  const out = tidy(() => {
    const onCpu = (t: Tensor) => (device === 'cpu' ? t : t.to('cpu'));
    return { logits: onCpu(cat(logits)), features: onCpu(cat(features)), labels: onCpu(cat(labels)) };
  });
  for (const t of [...logits, ...features, ...labels]) t.dispose();
  if (!ctx) return { ...out, indices };
  const gathered = collective(ctx, 'gathering evaluation outputs', () => gatherRows([out.logits, out.features, out.labels], indices, ctx));
  for (const t of Object.values(out)) t.dispose();
  const [l, f, y] = gathered.tensors as [Tensor, Tensor, Tensor];
  return { logits: l, features: f, labels: y, indices: gathered.positions };
}

export interface LoadedRun {
  config: TrainConfig;
  vocab: data.ClassVocabulary;
  model: Classifier;
  /** The checkpoint file the weights came from. */
  checkpoint: string;
  precision: ResolvedPrecision;
  /** Where the model is (the --device given to loadRun, resolved; not the one the run trained on). */
  device: Device;
  /** The images' recipe the run trained with (its recipe.json); evaluation uses its eval pipeline. */
  recipe: Recipe;
}

/**
 * A trained run's model from its folder (config.json, vocab.json and a checkpoint: `best`, or
 * `last` for a run without validation). A run trained with --ema gives its averaged weights, the
 * ones its validation metrics measured.
 */
export function loadRun(dir: string, which?: string, o: { device?: string } = {}): LoadedRun {
  // Every file of the folder checked, and against the checkpoint's own record, before any weight is used.
  const run = readRunFolder(dir, { checkpoint: which });
  const { vocab, recipe, checkpointPath: checkpoint } = run;
  const config = { ...run.config, weights: null };
  let model: Classifier;
  let device: Device;
  let precision: ResolvedPrecision;
  try {
    model = buildModel(config, vocab.size, recipe.eval.channels);
    // Checkpoints hold CPU tensors: a run trained on a GPU evaluates on the CPU and the other way round.
    // A data-parallel evaluation gathers its outputs over Gloo on the CPU: its auto is the CPU.
    ({ device } = resolveDevice(o.device ?? 'auto', { dataParallel: dist.processGroup() !== null }));
    ({ precision } = resolvePrecision(config.precision, device));
    // In the run's dtype before loading: a float64 checkpoint must not pass through float32.
    if (precision === 'fp64') model.to('float64');
    loadWeightsInto(run, model, run.checkpoint.ema.size ? run.checkpoint.ema : run.checkpoint.model);
  } finally {
    run.checkpoint.dispose();
  }
  model.eval();
  new Placement({ device, precision }).model(model);
  return { config: { ...config, device }, vocab, model, checkpoint, precision, device, recipe };
}

/** A loaded run's logits over a dataset, flip-averaged when tta (then log-probabilities); every rank gets all rows. */
export async function predictLogits(
  run: LoadedRun,
  dataset: data.SampleList,
  o: { tta?: boolean; ctx?: DistContext | null } = {},
): Promise<{ logits: Tensor; labels: Tensor; indices: number[] }> {
  const ctx = o.ctx ?? null;
  // Data-parallel: each rank takes its share of the images.
  const loader = new Placement(run, ctx).evalLoader(dataset, { ...run.config, skipBadImages: false }, run.recipe.eval);
  if (!o.tta) {
    try {
      const out = await collectOutputs(run.model, loader, run.precision, ctx);
      out.features.dispose();
      return { logits: out.logits, labels: out.labels, indices: out.indices };
    } finally {
      await loader.close();
    }
  }
  const logits: Tensor[] = [];
  const labels: Tensor[] = [];
  const indices: number[] = [];
  for await (const b of loader.epoch(0)) {
    try {
      const probs = inferenceMode(() => data.flipAveragedProbabilities((x) => logitsIn(run.precision, run.model, x, { keepCache: true }), b.x));
      logits.push(tidy(() => probs.log()));
      probs.dispose();
      labels.push(b.y.clone());
      indices.push(...b.indices);
    } finally {
      b.dispose();
    }
  }
  await loader.close();
  clearAutocastCache();
  const out = tidy(() => ({ logits: cat(logits).to('cpu'), labels: cat(labels).to('cpu') }));
  for (const t of [...logits, ...labels]) t.dispose();
  if (!ctx) return { ...out, indices };
  const gathered = collective(ctx, 'gathering predictions', () => gatherRows([out.logits, out.labels], indices, ctx));
  out.logits.dispose();
  out.labels.dispose();
  return { logits: gathered.tensors[0]!, labels: gathered.tensors[1]!, indices: gathered.positions };
}
