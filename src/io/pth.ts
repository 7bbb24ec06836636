// PyTorch's torch.save files (the zip format of PyTorch ≥ 1.6) read in TypeScript: ARCHIVE/data.pkl
// is unpickled with an allow-list of what a state dict needs, and each storage is read from
// ARCHIVE/data/KEY. Nothing in the file is ever executed. A tensor is a view (offset, sizes,
// strides) of a storage: a view must lie inside its storage, and the bytes the views would take
// once materialised (a stride-0 view of one element can claim gigabytes) must stay in proportion
// to the storages actually read, unless the caller allows expanded views.
import { readFileSync } from 'node:fs';
import { type DType, type Tensor, fromBytes, tidy } from '../engine/index.js';
import { type Callable, type PickleValue, Tuple, unpickle } from './pickle.js';
import { ITEM_SIZE } from './dtypes.js';
import { readZip } from './zip.js';

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

class StorageType {
  constructor(readonly dtype: DType) {}
}
class Storage {
  constructor(
    readonly key: string,
    readonly dtype: DType,
    /** null when only the metadata is read (readPthInfo). */
    readonly base: Tensor | null,
    readonly numel: number,
  ) {}
  get bytes(): number {
    return this.numel * ITEM_SIZE[this.dtype];
  }
}
/** A tensor produced while unpickling (a pickle value that carries a Tensor), with its view's geometry. */
class Rebuilt {
  constructor(
    /** null when only the metadata is read (readPthInfo). */
    readonly tensor: Tensor | null,
    readonly storage: Storage,
    readonly sizes: number[],
    readonly strides: number[],
    readonly offset: number,
    /** numel × item size: what the view takes once materialised (made contiguous, written out). */
    readonly bytes: number,
  ) {}
}

export interface PthOptions {
  /**
   * Load views whose materialised size is out of proportion to their storage (more than
   * EXPANSION_RATIO × the storage's bytes and more than EXPANSION_FLOOR bytes: a stride-0 view of
   * one element claiming gigabytes). Off by default: such a view in a small file is a memory bomb
   * for whatever materialises it (`lsr weights convert`, loading into a model).
   */
  allowExpandedViews?: boolean;
}

/**
 * A view may take up to this many times its storage's bytes, or EXPANSION_FLOOR bytes, whichever
 * is more; all views together, this many times the bytes of the storages read plus EXPANSION_FLOOR
 * (so that a thousand views each under the floor cannot add up to a bomb).
 */
export const EXPANSION_RATIO = 64;
/** Views up to this many bytes always load, whatever their storage: a broadcast bias, a small expanded mask. */
export const EXPANSION_FLOOR = 64 * 2 ** 20;

const callable = (qualifiedName: string, call: (args: PickleValue[]) => PickleValue): Callable => ({ qualifiedName, call });

/** Reads every tensor of a torch.save file; a checkpoint's 'state_dict' or 'model' entry is found by key. */
export function loadPth(path: string, options: PthOptions = {}): Map<string, Tensor> {
  return parsePth(readFileSync(path), path, options);
}

export function parsePth(bytes: Uint8Array, source = 'pth', options: PthOptions = {}): Map<string, Tensor> {
  return tidy(() => new Map([...readState(bytes, source, options, true)].map(([k, r]) => [k, r.tensor!])));
}

/** A tensor's dtype and shape, as a torch.save file declares them. */
export interface TensorInfo {
  dtype: DType;
  shape: number[];
}

/**
 * The keys, dtypes and shapes of a torch.save file without reading its tensors' data: the same
 * checks as loadPth (views inside their storages, storages of the size their dtype and length
 * need, no view out of proportion) on the sizes the archive declares, and no storage is inflated,
 * so a deflate bomb costs nothing here (`lsr weights info`).
 */
export function readPthInfo(path: string, options: PthOptions = {}): Map<string, TensorInfo> {
  const found = readState(readFileSync(path), path, options, false);
  return new Map([...found].map(([k, r]) => [k, { dtype: r.storage.dtype, shape: r.sizes }]));
}

/** The state dict's views; with `withData`, over storages read from the archive (call it inside tidy()). */
function readState(bytes: Uint8Array, source: string, options: PthOptions, withData: boolean): Map<string, Rebuilt> {
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! <= 5)
    throw new Error(`${source}: this is the legacy torch.save format (PyTorch < 1.6); re-save it with a newer PyTorch (torch.save(torch.load(f), f))`);
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) throw new Error(`${source}: not a PyTorch file (no zip signature 'PK' at the start)`);
  const entries = readZip(bytes, source);
  const pkl = [...entries.keys()].find((k) => /^[^/]+\/data\.pkl$/.test(k) || k === 'data.pkl');
  if (!pkl) throw new Error(`${source}: no data.pkl in the archive (is this a torch.save file?)`);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder && new TextDecoder().decode(byteorder.read()).trim() !== 'little') throw new Error(`${source}: big-endian tensors are not supported`);

  const storages = new Map<string, Storage>();
  const fail = (what: string): never => {
    throw new Error(`${source}: ${what}`);
  };
  const persistentLoad = (id: PickleValue): PickleValue => {
    const items = id instanceof Tuple ? id.items : [];
    const [kind, type, key, , numel] = items;
    if (kind !== 'storage' || !(type instanceof StorageType) || typeof key !== 'string' || !isCount(numel ?? null))
      return fail('unsupported persistent id (expected a tensor storage)');
    const { dtype } = type;
    let s = storages.get(key);
    if (!s) {
      const entry = entries.get(`${prefix}data/${key}`);
      if (!entry) return fail(`storage '${key}' is missing from the archive`);
      const n = numel as number;
      const expected = n * ITEM_SIZE[dtype];
      if (entry.size !== expected) return fail(`storage '${key}' holds ${entry.size} bytes, ${n} × ${dtype} needs ${expected}`);
      s = new Storage(key, dtype, withData ? fromBytes(entry.read(), [n], dtype) : null, n);
      storages.set(key, s);
    } else if (s.dtype !== dtype) fail(`storage '${key}' is used as ${s.dtype} and ${dtype}`);
    // A later id's numel is not used (as in PyTorch, which caches the storage by key): views are checked against the storage read.
    return s as unknown as PickleValue;
  };

  const rebuildTensor = (args: PickleValue[]): PickleValue => {
    const [storage, offset, size, stride] = args;
    const ints = (v: PickleValue | undefined) => (v instanceof Tuple ? v.items : Array.isArray(v) ? v : null);
    const sizes = ints(size);
    const strides = ints(stride);
    if (!(storage instanceof Storage) || !isCount(offset ?? null) || !sizes || !strides || !sizes.every(isCount) || !strides.every(isCount))
      return fail('malformed _rebuild_tensor_v2 arguments (a storage, an offset, sizes and strides: integers ≥ 0)');
    const geometry = `shape [${sizes.join(', ')}], strides (${strides.join(', ')}) and offset ${offset}`;
    if (sizes.length !== strides.length) return fail(`a tensor of ${geometry} over storage '${storage.key}': sizes and strides differ in length`);
    if (sizes.length > MAX_DIMS) return fail(`a tensor of ${geometry} has ${sizes.length} dimensions (at most ${MAX_DIMS})`);
    // Exact integers: sizes and strides up to 2^53 overflow a double's products.
    let numel = 1n;
    let nonzero = 1n; // libtorch multiplies every size, overflow-checked, even when one is 0
    let last = BigInt(offset as number);
    for (let i = 0; i < sizes.length; i++) {
      numel *= BigInt(sizes[i] as number);
      if (sizes[i] !== 0) {
        nonzero *= BigInt(sizes[i] as number);
        last += BigInt((sizes[i] as number) - 1) * BigInt(strides[i] as number);
      }
    }
    // PyTorch's set_ check: a non-empty view's last element lies inside the storage.
    if (numel > 0n && last >= BigInt(storage.numel))
      return fail(`a tensor of ${geometry} over storage '${storage.key}' reaches element ${last}, past the storage's ${storage.numel} elements`);
    if (nonzero > BigInt(Number.MAX_SAFE_INTEGER))
      return fail(`a tensor of ${geometry} over storage '${storage.key}' has sizes whose product (${nonzero}) is too large to hold`);
    const bytes = numel * BigInt(ITEM_SIZE[storage.dtype]);
    if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) return fail(`a tensor of ${geometry} over storage '${storage.key}' has ${numel} elements, too many to hold`);
    const view = storage.base?.asStrided(sizes as number[], strides as number[], offset as number) ?? null;
    return new Rebuilt(view, storage, sizes as number[], strides as number[], offset as number, Number(bytes)) as unknown as PickleValue;
  };
  const rebuildParameter = (args: PickleValue[]): PickleValue => {
    if (!(args[0] instanceof Rebuilt)) return fail('_rebuild_parameter of something that is not a tensor');
    return args[0];
  };

  const allowed: Record<string, PickleValue> = {
    'collections.OrderedDict': callable('collections.OrderedDict', () => new Map()),
    'torch._utils._rebuild_tensor_v2': callable('torch._utils._rebuild_tensor_v2', rebuildTensor),
    'torch._utils._rebuild_parameter': callable('torch._utils._rebuild_parameter', rebuildParameter),
    'torch._utils._rebuild_parameter_with_state': callable('torch._utils._rebuild_parameter_with_state', rebuildParameter),
  };
  for (const [name, dtype] of Object.entries(STORAGE_DTYPES)) allowed[`torch.${name}`] = new StorageType(dtype) as unknown as PickleValue;

  const root = unpickle(entries.get(pkl)!.read(), {
    source: `${source} (${pkl})`,
    resolveGlobal: (module, name) => allowed[`${module}.${name}`],
    persistentLoad,
  });
  let found: Map<string, Rebuilt> | null;
  try {
    found = findStateDict(root);
  } catch (e) {
    return fail((e as Error).message);
  }
  if (!found) return fail("no state dict found (a dict of tensors at the top, or under 'state_dict' or 'model')");
  if (!options.allowExpandedViews) checkExpansion(found, storages, fail);
  return found;
}

/** Refuses views out of proportion to their storage, one by one and all together (see PthOptions). */
function checkExpansion(tensors: Map<string, Rebuilt>, storages: Map<string, Storage>, fail: (what: string) => never): void {
  const hint =
    'a memory bomb, or a tensor saved as an expanded view: pass { allowExpandedViews: true } (lsr weights: --allow-expanded-views) to load it anyway';
  let stored = 0;
  for (const s of storages.values()) stored += s.bytes;
  const budget = EXPANSION_FLOOR + EXPANSION_RATIO * stored;
  let total = 0;
  for (const [key, r] of tensors) {
    const allowed = Math.max(EXPANSION_FLOOR, EXPANSION_RATIO * r.storage.bytes);
    const what = () =>
      `tensor '${key}' of shape [${r.sizes.join(', ')}], strides (${r.strides.join(', ')}) and offset ${r.offset} over storage '${r.storage.key}' (${r.storage.bytes} bytes)`;
    if (r.bytes > allowed)
      fail(
        `${what()} would take ${r.bytes} bytes once materialised, more than ${EXPANSION_RATIO}× its storage and more than ${EXPANSION_FLOOR} bytes (${hint})`,
      );
    total += r.bytes;
    if (total > budget)
      fail(
        `the tensors up to ${what()} would take ${total} bytes once materialised, more than ${EXPANSION_RATIO}× the ${stored} bytes of the file's storages plus ${EXPANSION_FLOOR} bytes (${hint})`,
      );
  }
}

function isCount(v: PickleValue): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** At most this many dimensions in a view: weights have a handful; this bounds the work a hostile view asks of the checks and of libtorch. */
const MAX_DIMS = 64;

/** How deep findStateDict looks under 'state_dict' / 'model' keys (checkpoints nest one or two levels). */
const MAX_NESTING = 16;

/** The dict of tensors: the root itself, or under 'state_dict' / 'model' (training checkpoints). */
function findStateDict(root: PickleValue, seen = new Set<PickleValue>()): Map<string, Rebuilt> | null {
  if (!(root instanceof Map) || seen.has(root)) return null; // a dict that holds itself
  if (seen.size >= MAX_NESTING) throw new Error(`the state dict is nested more than ${MAX_NESTING} levels deep under 'state_dict'/'model' keys`);
  seen.add(root);
  const tensors = new Map<string, Rebuilt>();
  for (const [k, v] of root) if (typeof k === 'string' && v instanceof Rebuilt) tensors.set(k, v);
  if (tensors.size > 0 && tensors.size === root.size) return tensors;
  for (const key of ['state_dict', 'model', 'model_state_dict', 'module']) {
    const nested = root.get(key);
    if (nested !== undefined) {
      const found = findStateDict(nested, seen);
      if (found) return found;
    }
  }
  return tensors.size > 0 ? tensors : null;
}
