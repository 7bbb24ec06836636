// Where this process stands in a data-parallel run, from torchrun's environment variables
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT), and
// joining / leaving the c10d process group.
import { DistributedError, type NumberRange, type Tensor, availableCores, cat, dist, parseNumber, tensor, tidy, zeros } from '../engine/index.js';

export interface DistContext {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  /** The machine's index among --nnodes (torchrun's GROUP_RANK). */
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  /** How long a collective waits for the others before the run stops (LSR_DIST_TIMEOUT, seconds). */
  timeoutMs: number;
}

export const DEFAULT_TIMEOUT_S = 300;
/** --dist-timeout / LSR_DIST_TIMEOUT: seconds > 0, at most 30 days (c10d holds it in int64 milliseconds; a rank silent for a month is lost). */
export const TIMEOUT_RANGE: NumberRange = { min: 0, minOpen: true, max: 30 * 86400, note: 'seconds' };

/** The context torchrun's variables describe, or null when WORLD_SIZE is not set (a plain run). */
export function contextFromEnv(env: NodeJS.ProcessEnv = process.env): DistContext | null {
  if (env.WORLD_SIZE === undefined) return null;
  const int = (name: string, min: number, fallback?: number): number => {
    const raw = env[name];
    if (raw === undefined && fallback !== undefined) return fallback;
    const v = Number(raw);
    if (raw === undefined || raw === '' || !Number.isInteger(v) || v < min)
      throw new Error(`environment variable ${name} must be an integer ≥ ${min}, got ${raw === undefined ? 'nothing' : `'${raw}'`}`);
    return v;
  };
  const worldSize = int('WORLD_SIZE', 1);
  const rank = int('RANK', 0);
  if (rank >= worldSize) throw new Error(`environment variable RANK must be below WORLD_SIZE (${worldSize}), got ${rank}`);
  const localWorldSize = int('LOCAL_WORLD_SIZE', 1, worldSize);
  const localRank = int('LOCAL_RANK', 0, rank % localWorldSize);
  if (localRank >= localWorldSize) throw new Error(`environment variable LOCAL_RANK must be below LOCAL_WORLD_SIZE (${localWorldSize}), got ${localRank}`);
  if (env.MASTER_ADDR !== undefined && !/\S/.test(env.MASTER_ADDR))
    throw new Error(`environment variable MASTER_ADDR must name a host (an address or a name), got '${env.MASTER_ADDR}'`);
  const timeoutS =
    env.LSR_DIST_TIMEOUT === undefined ? DEFAULT_TIMEOUT_S : parseNumber(env.LSR_DIST_TIMEOUT, 'environment variable LSR_DIST_TIMEOUT', TIMEOUT_RANGE);
  return {
    rank,
    worldSize,
    localRank,
    localWorldSize,
    nodeRank: int('GROUP_RANK', 0, Math.floor(rank / localWorldSize)),
    masterAddr: env.MASTER_ADDR ?? '127.0.0.1',
    masterPort: int('MASTER_PORT', 1, 29500),
    timeoutMs: Math.round(timeoutS * 1000),
  };
}

/** Compute threads per process: this machine's cores shared among its local ranks. */
export function threadsPerProcess(ctx: DistContext | null, requested: number): number {
  if (requested > 0) return requested;
  return Math.max(1, Math.floor(availableCores() / (ctx?.localWorldSize ?? 1)));
}

/** Joins the group (a no-op for a plain run). */
export function joinGroup(ctx: DistContext | null): void {
  if (!ctx) return;
  if (!dist.distributedAvailable())
    throw new Error(
      'this lsr build has no distributed support: Gloo headers were missing when the addon was built (Debian: apt-get install libgloo-dev; then npm run build:native)',
    );
  issued = 0;
  dist.initProcessGroup({
    masterAddr: ctx.masterAddr,
    masterPort: ctx.masterPort,
    rank: ctx.rank,
    worldSize: ctx.worldSize,
    timeoutMs: ctx.timeoutMs,
    ifname: process.env.GLOO_SOCKET_IFNAME,
  });
}

/** Leaves the group once every rank is done (rank 0 hosts the store, so it must not leave first). */
export function leaveGroup(ctx: DistContext | null): void {
  if (!ctx || !dist.processGroup()) return;
  dist.barrier();
  dist.destroyProcessGroup();
}

/**
 * A failed collective (a peer died, hung past the timeout, or closed its connection) as an error
 * that names the lost rank(s), found by their stopped heartbeats.
 */
export function explainFailure(e: unknown, ctx: DistContext, where: string): Error {
  const cause = e instanceof Error ? e.message : String(e);
  if (!dist.processGroup()) return e instanceof Error ? e : new Error(cause);
  let lost: string;
  try {
    const ranks = dist.rankLiveness(1500).filter((r) => !r.alive && r.rank !== ctx.rank);
    lost = ranks.length
      ? ranks.map((r) => `rank ${r.rank}${r.who ? ` (${r.who})` : ''}`).join(', ') + (ranks.length > 1 ? ' were lost' : ' was lost')
      : 'no rank has stopped, so a peer may have failed with an error of its own or is slower than the timeout';
  } catch {
    lost = 'rank 0 was lost (it hosts the rendezvous store, which no longer answers)';
  }
  return new DistributedError(`rank ${ctx.rank}: ${lost}; stopped ${where} (${cause.replace(/^\w+: /, '')})`, { cause: e });
}

/** The collectives this process has issued through collective() since it joined its group. */
let issued = 0;
/** How many UTF-16 code units of a collective's `where` the ranks compare. */
const WHERE_UNITS = 96;

/**
 * Before each collective, every rank shows the others its sequence number and what it is about
 * to do (PyTorch's TORCH_DISTRIBUTED_DEBUG=DETAIL, cheaply: one all-gather of ~800 bytes). Ranks
 * that disagree — one skipped a step, or is validating while the others train — stop with a
 * message naming each rank and its collective, instead of pairing their data with the wrong
 * operation. LSR_DIST_CHECK=0 turns it off.
 */
function checkSequence(ctx: DistContext, where: string): void {
  if (process.env.LSR_DIST_CHECK === '0' || ctx.worldSize < 2) return;
  issued++;
  const units = Array.from({ length: WHERE_UNITS }, (_, i) => (i < where.length ? where.charCodeAt(i) : 0));
  let all: number[];
  try {
    all = tidy(() => dist.allGather(tensor([issued, ...units], { dtype: 'int64' })).toFlatArray());
  } catch (e) {
    throw explainFailure(e, ctx, where);
  }
  const width = WHERE_UNITS + 1;
  const ranks = Array.from({ length: ctx.worldSize }, (_, r) => {
    const row = all.slice(r * width, (r + 1) * width);
    return { rank: r, seq: row[0]!, where: String.fromCharCode(...row.slice(1).filter((u) => u !== 0)) };
  });
  const mine = where.slice(0, WHERE_UNITS);
  if (ranks.every((r) => r.seq === issued && r.where === mine)) return;
  throw new DistributedError(
    `rank ${ctx.rank}: the ranks are out of step: ${ranks.map((r) => `rank ${r.rank} is ${r.where} (its collective #${r.seq})`).join('; ')}. ` +
      'A rank skipped or added a step; their collectives would pair with the wrong ones',
  );
}

/** Runs a collective step, after checking that every rank is at the same one (checkSequence), turning a failure into explainFailure's message. */
export function collective<T>(ctx: DistContext | null, where: string, fn: () => T): T {
  if (!ctx) return fn();
  checkSequence(ctx, where);
  try {
    return fn();
  } catch (e) {
    throw explainFailure(e, ctx, where);
  }
}

/**
 * Rows that this rank computed for some dataset positions (an unpadded evaluation shard, perhaps
 * with unreadable images left out), gathered from every rank and put in position order; the same
 * result on every rank. `tensors` all have one row per position.
 */
export function gatherRows(tensors: Tensor[], positions: number[], ctx: DistContext): { tensors: Tensor[]; positions: number[] } {
  return tidy(() => {
    const count = tensor([positions.length], { dtype: 'int64' });
    dist.allReduce([count], 'max');
    const maxRows = count.item();
    const pad = (t: Tensor, fill: number) =>
      t.shape[0]! < maxRows ? cat([t, zeros([maxRows - t.shape[0]!, ...t.shape.slice(1)], { dtype: t.dtype }).add(fill)]) : t;
    const allPositions = dist.allGather(pad(tensor(positions, { dtype: 'int64' }), -1)).toFlatArray();
    const order = allPositions
      .map((p, k) => [p, k] as const)
      .filter(([p]) => p >= 0)
      .sort((a, b) => a[0] - b[0]);
    const index = tensor(
      order.map(([, k]) => k),
      { dtype: 'int64' },
    );
    const out = tensors.map((t) => {
      const all = dist.allGather(pad(t, 0).contiguous());
      return all.reshape([ctx.worldSize * maxRows, ...t.shape.slice(1)]).indexSelect(0, index);
    });
    return { tensors: out, positions: order.map(([p]) => p) };
  });
}
