// PyTorch's torch.save files (the zip format of PyTorch ≥ 1.6) read in TypeScript: ARCHIVE/data.pkl
// is unpickled with an allow-list of what a state dict needs, and each storage is read from
// ARCHIVE/data/KEY. Nothing in the file is ever executed.
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
    readonly base: Tensor,
  ) {}
}
/** A tensor produced while unpickling (a pickle value that carries a Tensor). */
class Rebuilt {
  constructor(readonly tensor: Tensor) {}
}

const callable = (qualifiedName: string, call: (args: PickleValue[]) => PickleValue): Callable => ({ qualifiedName, call });

/** Reads every tensor of a torch.save file; a checkpoint's 'state_dict' or 'model' entry is found by key. */
export function loadPth(path: string): Map<string, Tensor> {
  return parsePth(readFileSync(path), path);
}

export function parsePth(bytes: Uint8Array, source = 'pth'): Map<string, Tensor> {
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! <= 5)
    throw new Error(`${source}: this is the legacy torch.save format (PyTorch < 1.6); re-save it with a newer PyTorch (torch.save(torch.load(f), f))`);
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) throw new Error(`${source}: not a PyTorch file (no zip signature 'PK' at the start)`);
  const entries = readZip(bytes, source);
  const pkl = [...entries.keys()].find((k) => /^[^/]+\/data\.pkl$/.test(k) || k === 'data.pkl');
  if (!pkl) throw new Error(`${source}: no data.pkl in the archive (is this a torch.save file?)`);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const byteorder = entries.get(`${prefix}byteorder`);
  if (byteorder && new TextDecoder().decode(byteorder.read()).trim() !== 'little') throw new Error(`${source}: big-endian tensors are not supported`);

  return tidy(() => {
    const storages = new Map<string, Storage>();
    const fail = (what: string): never => {
      throw new Error(`${source}: ${what}`);
    };
    const persistentLoad = (id: PickleValue): PickleValue => {
      const items = id instanceof Tuple ? id.items : [];
      const [kind, type, key, , numel] = items;
      if (kind !== 'storage' || !(type instanceof StorageType) || typeof key !== 'string' || typeof numel !== 'number')
        return fail('unsupported persistent id (expected a tensor storage)');
      const { dtype } = type;
      let s = storages.get(key);
      if (!s) {
        const entry = entries.get(`${prefix}data/${key}`);
        if (!entry) return fail(`storage '${key}' is missing from the archive`);
        const expected = numel * ITEM_SIZE[dtype];
        if (entry.size !== expected) return fail(`storage '${key}' holds ${entry.size} bytes, ${numel} × ${dtype} needs ${expected}`);
        s = new Storage(key, dtype, fromBytes(entry.read(), [numel], dtype));
        storages.set(key, s);
      } else if (s.dtype !== dtype) fail(`storage '${key}' is used as ${s.dtype} and ${dtype}`);
      return s as unknown as PickleValue;
    };

    const rebuildTensor = (args: PickleValue[]): PickleValue => {
      const [storage, offset, size, stride] = args;
      const ints = (v: PickleValue) => (v instanceof Tuple ? v.items : Array.isArray(v) ? v : null);
      const sizes = ints(size!);
      const strides = ints(stride!);
      if (!(storage instanceof Storage) || typeof offset !== 'number' || !sizes || !strides || !sizes.every(isInt) || !strides.every(isInt))
        return fail('malformed _rebuild_tensor_v2 arguments');
      // asStrided checks that the view lies inside the storage.
      return new Rebuilt(storage.base.asStrided(sizes as number[], strides as number[], offset)) as unknown as PickleValue;
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
    let tensors: Map<string, Tensor> | null;
    try {
      tensors = findStateDict(root);
    } catch (e) {
      return fail((e as Error).message);
    }
    if (!tensors) return fail("no state dict found (a dict of tensors at the top, or under 'state_dict' or 'model')");
    return tensors;
  });
}

function isInt(v: PickleValue): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

/** How deep findStateDict looks under 'state_dict' / 'model' keys (checkpoints nest one or two levels). */
const MAX_NESTING = 16;

/** The dict of tensors: the root itself, or under 'state_dict' / 'model' (training checkpoints). */
function findStateDict(root: PickleValue, seen = new Set<PickleValue>()): Map<string, Tensor> | null {
  if (!(root instanceof Map) || seen.has(root)) return null; // a dict that holds itself
  if (seen.size >= MAX_NESTING) throw new Error(`the state dict is nested more than ${MAX_NESTING} levels deep under 'state_dict'/'model' keys`);
  seen.add(root);
  const tensors = new Map<string, Tensor>();
  for (const [k, v] of root) if (typeof k === 'string' && v instanceof Rebuilt) tensors.set(k, v.tensor);
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
