// Checkpoints: one safetensors file holding the model, the optimizer's state tensors and the
// random generator's state, with everything else (epoch, step, scheduler, optimizer options,
// running sums, config, vocabulary) as JSON metadata. Written atomically.
import { type Device, type Tensor, getRngState, setRngState, shownJson, tidy } from '../engine/index.js';
import { loadSafetensors, saveSafetensors } from '../io/index.js';
import type { Module } from '../nn/index.js';
import type { LRScheduler, Optimizer, ParamState } from '../optim/index.js';

/** Where a run stands: what a resumed run needs to end where an uninterrupted one would. */
export interface Progress {
  /** Epochs finished. */
  epoch: number;
  /** Batches done in the current (unfinished) epoch. */
  step: number;
  /** Running sums of the current epoch's training batches. */
  sums: { loss: number; correct: number; count: number; seconds: number };
  bestAccuracy: number;
}

export interface CheckpointMeta {
  format: 'lsr-checkpoint-1';
  progress: Progress;
  scheduler: { lastEpoch: number } | null;
  /** stateless: the parameters that have no state yet, never updated (a body frozen by --freeze-epochs); absent when none. */
  optimizer: { paramGroups: unknown[]; scalars: Record<string, Record<string, number>>; stateless?: number[] };
  config: unknown;
  vocab: { classes: string[] };
}

/**
 * The generators a run's checkpoints keep: the CPU's (initial weights, shuffles, mixup draws) and,
 * on a GPU, that device's (dropout and other random ops there), as torch.cuda.get_rng_state.
 */
export const generatorDevices = (device: Device): Device[] => (device === 'cpu' ? ['cpu'] : ['cpu', device]);

/** A generator's key in a checkpoint ('rng.cpu', 'rng.cuda:0'; checkpoints before 'rng.<device>' named the CPU's 'rng'). */
const rngKey = (device: Device): string => `rng.${device}`;

export function saveCheckpoint(
  path: string,
  parts: {
    model: Module;
    optimizer: Optimizer<{ lr: number }>;
    scheduler: LRScheduler | null;
    progress: Progress;
    config: unknown;
    vocab: { classes: string[] };
    /** The state of a loss that keeps one (Online Label Smoothing): saved under 'loss.'. */
    loss?: Record<string, Tensor> | null;
    /** An average of the model's weights (--ema): saved under 'ema.'. */
    ema?: Module | null;
    /** The devices whose generator state is saved (generatorDevices: the CPU's, and the run's GPU). */
    generators?: readonly Device[];
  },
): void {
  tidy(() => {
    const tensors = new Map<string, Tensor>();
    for (const [k, t] of parts.model.stateDict()) tensors.set(`model.${k}`, t);
    if (parts.ema) for (const [k, t] of parts.ema.stateDict()) tensors.set(`ema.${k}`, t);
    if (parts.loss) for (const [k, t] of Object.entries(parts.loss)) tensors.set(`loss.${k}`, t);
    const sd = parts.optimizer.stateDict();
    const scalars: Record<string, Record<string, number>> = {};
    for (const [i, state] of sd.state)
      for (const [k, v] of Object.entries(state)) {
        if (typeof v === 'number') (scalars[i] ??= {})[k] = v;
        else tensors.set(`optimizer.${i}.${k}`, v);
      }
    for (const device of parts.generators ?? ['cpu']) tensors.set(rngKey(device), getRngState(device));
    // Named, so that a parameter never updated is not taken for one whose state went missing.
    const count = sd.paramGroups.reduce((n, g) => n + g.params.length, 0);
    const stateless = sd.state.size > 0 ? Array.from({ length: count }, (_, i) => i).filter((i) => !sd.state.has(i)) : [];
    const meta: CheckpointMeta = {
      format: 'lsr-checkpoint-1',
      progress: parts.progress,
      scheduler: parts.scheduler?.stateDict() ?? null,
      optimizer: { paramGroups: sd.paramGroups, scalars, ...(stateless.length ? { stateless } : {}) },
      config: parts.config,
      vocab: parts.vocab,
    };
    saveSafetensors(path, tensors, { lsr: JSON.stringify(meta) });
    for (const state of sd.state.values()) for (const v of Object.values(state)) if (typeof v !== 'number') v.dispose();
  });
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  /** The model's state dict (keys without the 'model.' prefix). */
  model: Map<string, Tensor>;
  /** The averaged weights of a run with --ema (keys without 'ema.'); empty otherwise. */
  ema: Map<string, Tensor>;
  /** A loss's state (keys without 'loss.'); empty when the run's loss keeps none. */
  loss: Record<string, Tensor>;
  /**
   * Loads the weights into `model` and, when given, the optimizer's and scheduler's state and the
   * state of the generators of `generators` (a resume: generatorDevices of the run's device; the
   * GPU's saved state is left unread when a GPU run resumes on the CPU).
   */
  restore(parts: { model: Module; optimizer?: Optimizer<{ lr: number }>; scheduler?: LRScheduler | null; generators?: readonly Device[] }): void;
  dispose(): void;
}

/**
 * A checkpoint's position checked against the run resuming it: what a resume would otherwise
 * trust (an epoch past the end, a negative or non-integer one, a step past the epoch, missing sums).
 */
export function checkProgress(path: string, progress: unknown, run: { epochs: number; batchesPerEpoch: number }): Progress {
  const fail = (field: string, what: string, v: unknown): never => {
    throw new Error(`${path}: ${field} ${what}, got ${shownJson(v)}`);
  };
  if (typeof progress !== 'object' || progress === null || Array.isArray(progress)) return fail('progress', 'must be an object', progress);
  const p = progress as Record<string, unknown>;
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
  if (!int(p.epoch) || (p.epoch as number) < 0) fail('progress.epoch', 'must be an integer ≥ 0', p.epoch);
  if ((p.epoch as number) > run.epochs) fail('progress.epoch', `is past the run's ${run.epochs} epochs`, p.epoch);
  if (!int(p.step) || (p.step as number) < 0) fail('progress.step', 'must be an integer ≥ 0', p.step);
  if ((p.step as number) > run.batchesPerEpoch) fail('progress.step', `is past the epoch's ${run.batchesPerEpoch} batches`, p.step);
  if ((p.step as number) > 0 && p.epoch === run.epochs) fail('progress.step', 'must be 0 once every epoch is done', p.step);
  const sums = p.sums as Record<string, unknown> | null;
  if (typeof sums !== 'object' || sums === null) fail('progress.sums', 'must be an object', sums);
  for (const k of ['loss', 'correct', 'count', 'seconds'])
    if (typeof sums![k] !== 'number' || !Number.isFinite(sums![k]) || (k !== 'loss' && (sums![k] as number) < 0))
      fail(`progress.sums.${k}`, 'must be a finite number', sums![k]);
  if (typeof p.bestAccuracy !== 'number' || !(p.bestAccuracy === -1 || (p.bestAccuracy >= 0 && p.bestAccuracy <= 1)))
    fail('progress.bestAccuracy', 'must be -1 (none yet) or in [0, 1]', p.bestAccuracy);
  return p as unknown as Progress;
}

export function loadCheckpoint(path: string): LoadedCheckpoint {
  const file = loadSafetensors(path);
  const raw = file.metadata.lsr;
  if (!raw) throw new Error(`${path}: not an lsr checkpoint (no 'lsr' metadata)`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(raw) as CheckpointMeta;
  } catch (e) {
    throw new Error(`${path}: corrupt checkpoint metadata (${(e as Error).message})`);
  }
  if (meta.format !== 'lsr-checkpoint-1') throw new Error(`${path}: unknown checkpoint format '${String(meta.format)}'`);
  const prefixed = (prefix: string) => new Map([...file.tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
  const model = prefixed('model.');
  return {
    meta,
    model,
    ema: prefixed('ema.'),
    loss: Object.fromEntries(prefixed('loss.')),
    restore(parts) {
      parts.model.loadStateDict(model);
      if (parts.optimizer) {
        const state = new Map<number, ParamState>();
        const slot = (i: number) => state.get(i) ?? state.set(i, {}).get(i)!;
        for (const [k, t] of file.tensors) {
          const m = /^optimizer\.(\d+)\.(.+)$/.exec(k);
          if (m) slot(Number(m[1]))[m[2]!] = t;
        }
        for (const [i, s] of Object.entries(meta.optimizer.scalars ?? {})) Object.assign(slot(Number(i)), s);
        // Every parameter's state has the same buffers (momentum, Adam's moments): one missing would
        // restart silently. Only a parameter the checkpoint names as never updated has none.
        const keys = new Set([...state.values()].flatMap((s) => Object.keys(s)));
        const count = parts.optimizer.paramGroups.reduce((n, g) => n + g.params.length, 0);
        const stateless = new Set(Array.isArray(meta.optimizer.stateless) ? meta.optimizer.stateless : []);
        if (keys.size)
          for (let i = 0; i < count; i++)
            for (const k of stateless.has(i) && !state.has(i) ? [] : keys)
              if (!(k in (state.get(i) ?? {})))
                throw new Error(
                  `${path}: the optimizer state of parameter ${i} lacks '${k}' (optimizer.${i}.${k}), which the others have: the checkpoint is incomplete`,
                );
        parts.optimizer.loadStateDict({ state, paramGroups: meta.optimizer.paramGroups as never });
      }
      if (parts.scheduler && meta.scheduler) parts.scheduler.loadStateDict(meta.scheduler);
      for (const device of parts.generators ?? []) {
        const state = file.tensors.get(rngKey(device)) ?? (device === 'cpu' ? file.tensors.get('rng') : undefined);
        if (state) setRngState(state, device);
      }
    },
    dispose() {
      for (const t of file.tensors.values()) t.dispose();
    },
  };
}
