// A run's plan: the decisions made once, before any data or weights are touched (the device and
// precision, this process's place in a data-parallel run, the batch in each of its shapes, the
// learning rate, the read cadence, the threads), as torchvision's reference script makes them at
// its top and passes them down. The Trainer, evaluation and the report read the plan; nothing
// resolves `--device` or `--precision` again.
import { type DistContext, threadsPerProcess } from '../distributed/index.js';
import { BadInputError, type Device, type ResolvedPrecision, dist, isCuda, resolveDevice, resolvePrecision } from '../engine/index.js';
import { type TrainConfig, withDefaultLearningRate } from './config.js';

export interface RunPlan {
  /** Where the model trains, and why ('chosen', or what 'auto' saw). */
  readonly device: Device;
  readonly deviceReason: string;
  readonly precision: ResolvedPrecision;
  readonly precisionReason: string;
  /** Processes in the run (1 without data parallelism), this one's rank, and whether it leads (rank 0: logs, writes files). */
  readonly world: number;
  readonly rank: number;
  readonly lead: boolean;
  /** The batch: global (--batch-size: one optimizer step's images over every rank), per rank, and per micro-batch (--accumulate). */
  readonly batch: { readonly global: number; readonly perRank: number; readonly micro: number };
  /** The learning rate (--lr 0 resolved: 0.1 × batch/256 for SGD from scratch, …). */
  readonly lr: number;
  /** Steps between reads of the loss and accuracy: every step on the CPU and in data-parallel runs (the ranks agree on a stop), 20 on a GPU (each read waits for it). */
  readonly readEvery: number;
  /** Intra-op threads of this process. */
  readonly threads: number;
}

export interface PlanContext {
  /** This process's place in a data-parallel run (its process group joined), or none. */
  dist?: DistContext | null;
  /** Overrides the read cadence (tests force a GPU's cadence on the CPU). */
  readEvery?: number;
}

/** Decides the run once; refuses what cannot run here (a batch that does not split, CUDA with --nproc), naming the option. */
export function planRun(config: TrainConfig, context: PlanContext = {}): RunPlan {
  const ctx = context.dist && dist.processGroup() ? context.dist : null;
  const world = ctx?.worldSize ?? 1;
  if (config.batchSize % (world * config.accumulate) !== 0)
    throw new BadInputError(
      `--batch-size ${config.batchSize} must be a multiple of the number of processes (${world})${config.accumulate > 1 ? ` times --accumulate ${config.accumulate}` : ''}: it is the global batch, split evenly among them`,
    );
  const { device, reason: deviceReason } = resolveDevice(config.device, { dataParallel: ctx !== null });
  const { precision, reason: precisionReason } = resolvePrecision(config.precision, device);
  const readEvery = ctx ? 1 : (context.readEvery ?? (isCuda(device) ? 20 : 1));
  if (!(Number.isInteger(readEvery) && readEvery >= 1)) throw new Error(`readEvery must be a positive integer, got ${context.readEvery}`);
  const perRank = config.batchSize / world;
  return Object.freeze({
    device,
    deviceReason,
    precision,
    precisionReason,
    world,
    rank: ctx?.rank ?? 0,
    lead: !ctx || ctx.rank === 0,
    batch: Object.freeze({ global: config.batchSize, perRank, micro: perRank / config.accumulate }),
    lr: withDefaultLearningRate(config).lr,
    readEvery,
    threads: threadsPerProcess(ctx, config.threads),
  });
}

/** The plan's words for the report and the log: "bf16 (auto: …) on cuda:0". */
export function describePrecision(plan: RunPlan, chosen: TrainConfig['precision']): string {
  return `${plan.precision}${chosen === 'auto' ? ` (auto: ${plan.precisionReason})` : ''} on ${plan.device}`;
}
