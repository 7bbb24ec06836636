// torch.distributed over libtorch's c10d: a TCPStore rendezvous and a Gloo process group, one per
// process. Collectives are synchronous and in place; each waits at most the group's timeout.
import { native } from './native.js';
import { Tensor } from './tensor.js';

export interface ProcessGroupOptions {
  /** Where rank 0 hosts the rendezvous store (torchrun's MASTER_ADDR / MASTER_PORT). */
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  /** How long a rendezvous or a collective may wait for the other ranks. */
  timeoutMs: number;
  /** The network interface Gloo uses (GLOO_SOCKET_IFNAME); by default the master address decides. */
  ifname?: string;
}

export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';

let group: ProcessGroupOptions | null = null;

/** False when the addon was built without Gloo's headers (Debian: libgloo-dev). */
export function distributedAvailable(): boolean {
  return native.dist_available();
}

/** Joins the process group: blocks until every rank has arrived or the timeout has passed. */
export function initProcessGroup(o: ProcessGroupOptions): void {
  if (group) throw new Error(`initProcessGroup: this process is already rank ${group.rank} of ${group.worldSize}`);
  try {
    native.dist_init(o.masterAddr, o.masterPort, o.rank, o.worldSize, o.timeoutMs, o.ifname ?? '');
  } catch (e) {
    throw new Error(
      `rank ${o.rank} of ${o.worldSize}: the rendezvous at ${o.masterAddr}:${o.masterPort} failed within ${o.timeoutMs / 1000} s (${(e as Error).message})`,
    );
  }
  group = { ...o };
}

/** Leaves the process group in order (every rank should call it, after a barrier). */
export function destroyProcessGroup(): void {
  native.dist_destroy();
  group = null;
}

/** The group this process belongs to, or null. */
export function processGroup(): Readonly<ProcessGroupOptions> | null {
  return group;
}

/** All-reduces in place; the tensors are coalesced into buckets of at most bucketBytes (25 MiB by default, DDP's), sent together. */
export function allReduce(ts: Tensor[], op: ReduceOp = 'sum', o: { bucketBytes?: number } = {}): void {
  if (ts.length)
    native.dist_allreduce(
      ts.map((t) => t.handle),
      op,
      o.bucketBytes ?? 25 * 1024 * 1024,
    );
}

/** Overwrites the tensors with rank `root`'s, in place. */
export function broadcast(ts: Tensor[], root = 0): void {
  if (ts.length)
    native.dist_broadcast(
      ts.map((t) => t.handle),
      root,
    );
}

/** Every rank's `t` (same shape and dtype on all ranks), stacked: [worldSize, ...t.shape]. */
export function allGather(t: Tensor): Tensor {
  return new Tensor(native.dist_allgather(t.handle));
}

export function barrier(): void {
  native.dist_barrier();
}

// The GC backstop for a reducer that was never disposed.
const reducers = new FinalizationRegistry<number>((id) => native.ddp_reducer_dispose(id));

/**
 * DDP's gradient reducer over some parameters: between prepare() and finish(), backward's
 * gradients are all-reduced bucket by bucket as they are produced (overlapping the rest of
 * backward); finish() waits and leaves each parameter's .grad as the mean over ranks.
 */
export class GradientReducer {
  readonly #id: number;
  #disposed = false;

  constructor(params: Tensor[], o: { bucketBytes: number; firstBucketBytes: number }) {
    this.#id = native.ddp_reducer_create(
      params.map((p) => p.handle),
      o.bucketBytes,
      o.firstBucketBytes,
    );
    reducers.register(this, this.#id, this);
  }

  prepare(): void {
    native.ddp_reducer_prepare(this.#id);
  }

  finish(): void {
    native.ddp_reducer_finish(this.#id);
  }

  /**
   * Frees the native reducer now: its buckets, its hooks on the parameters and its references to
   * them (which kept a disposed model's weights alive). Idempotent; prepare() and finish() throw after it.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    reducers.unregister(this);
    native.ddp_reducer_dispose(this.#id);
  }
}

/** The live native gradient reducers and the bytes of their buckets (a disposed one counts for nothing). */
export function reducerStats(): { reducers: number; bytes: number } {
  return native.ddp_reducer_stats();
}

export interface RankLiveness {
  rank: number;
  alive: boolean;
  /** "host pid N" as the rank registered itself. */
  who: string;
}

/**
 * After a failed collective: which ranks still advance their heartbeat (every 200 ms) over
 * `waitMs`. Throws when the store, which rank 0 hosts, cannot be reached.
 */
export function rankLiveness(waitMs = 1500): RankLiveness[] {
  return native.dist_liveness(waitMs);
}
