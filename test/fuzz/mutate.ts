// The fuzzer's cases: seeded, reproducible mutations of valid .pth and .safetensors files. Each case
// is a function of (seed, format, index) alone, so `--only pth:123` rebuilds it exactly.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import {
  type Deflated,
  SAFETENSORS_DTYPES,
  STORAGE_TYPES,
  type SafetensorsDType,
  type StorageType,
  type ViewSpec,
  pickleBytes,
  pickleInt,
  pickleString,
  pthOf,
  safetensorsOf,
  safetensorsRaw,
  statePkl,
  zipOf,
} from './files.js';

/** mulberry32: a small seeded generator (uint32 steps). */
export class Rng {
  private s: number;
  constructor(...seeds: number[]) {
    let h = 0x9e3779b9;
    for (const x of seeds) h = Math.imul(h ^ (x >>> 0), 0x85ebca6b) ^ (h >>> 13);
    this.s = h >>> 0;
    for (let i = 0; i < 4; i++) this.u32();
  }
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 2 ** 32) * n);
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** Where the canary file of the code-execution attempts goes: it must never appear. */
export function canaryPath(dir: string): string {
  return `${dir}/pwned`;
}

// ---------------------------------------------------------------------------------------------
// Seeds: valid files.

const DTYPE_VALUES: Record<StorageType, (i: number) => number> = {
  FloatStorage: (i) => i * 0.5 - 1,
  DoubleStorage: (i) => i / 3,
  HalfStorage: (i) => i,
  BFloat16Storage: (i) => i,
  LongStorage: (i) => i * 1e6,
  IntStorage: (i) => -i,
  ShortStorage: (i) => i,
  CharStorage: (i) => (i % 100) - 50,
  ByteStorage: (i) => i % 256,
  BoolStorage: (i) => i % 2,
};

/** Little-endian bytes of n values of a storage type (half types as raw 16-bit patterns). */
function storageBytes(type: StorageType, n: number): Uint8Array {
  const size = STORAGE_TYPES[type];
  const out = Buffer.alloc(n * size);
  for (let i = 0; i < n; i++) {
    const v = DTYPE_VALUES[type](i);
    if (type === 'FloatStorage') out.writeFloatLE(v, i * 4);
    else if (type === 'DoubleStorage') out.writeDoubleLE(v, i * 8);
    else if (type === 'HalfStorage') out.writeUInt16LE(0x3c00 + (v & 0x3ff), i * 2);
    else if (type === 'BFloat16Storage') out.writeUInt16LE(0x3f80 + (v & 0x7f), i * 2);
    else if (type === 'LongStorage') out.writeBigInt64LE(BigInt(v), i * 8);
    else if (type === 'IntStorage') out.writeInt32LE(v, i * 4);
    else if (type === 'ShortStorage') out.writeInt16LE(v, i * 2);
    else if (type === 'CharStorage') out.writeInt8(v, i);
    else out.writeUInt8(v, i);
  }
  return out;
}

/** A small valid torch.save file: a few views (contiguous, transposed, expanded, offset, shared) of a few storages. */
export function validPth(rng: Rng): Uint8Array {
  const views: ViewSpec[] = [];
  const storages: Record<string, Uint8Array | Deflated> = {};
  const types = Object.keys(STORAGE_TYPES) as StorageType[];
  const count = 1 + rng.int(6);
  for (let i = 0; i < count; i++) {
    const type = rng.pick(types);
    const shared = i > 0 && rng.chance(0.2) ? views[rng.int(views.length)]! : null;
    const key = shared ? shared.storage : String(i);
    const kind = rng.int(5);
    const rows = 1 + rng.int(4);
    const cols = 1 + rng.int(5);
    // contiguous, transposed, expanded (stride 0), at an offset, a 0-dim scalar
    const [view, numel] = (
      [
        [{ size: [rows, cols], stride: [cols, 1] }, rows * cols],
        [{ size: [cols, rows], stride: [1, cols] }, rows * cols],
        [{ size: [rows, cols], stride: [0, 1] }, cols],
        [{ size: [cols], stride: [1], offset: 1 }, cols + 1],
        [{ size: [], stride: [] }, 1],
      ] as const
    )[kind]!;
    if (shared) {
      // The same storage: a view that fits it.
      views.push({ key: `layer${i}.weight`, storage: key, numel: shared.numel, type: shared.type ?? 'FloatStorage', size: [shared.numel], stride: [1] });
      continue;
    }
    views.push({
      key: `layer${i}.${rng.pick(['weight', 'bias', 'running_mean', 'num_batches_tracked'])}`,
      storage: key,
      numel,
      type,
      parameter: rng.chance(0.3),
      size: [...view.size],
      stride: [...view.stride],
      offset: 'offset' in view ? view.offset : 0,
    });
    const data = storageBytes(type, numel);
    storages[key] = rng.chance(0.25) ? { deflated: deflateRawSync(data), size: data.length } : data;
  }
  const files: Record<string, Uint8Array | Deflated> = {};
  const archive = rng.pick(['archive', 'model', 'resnet-tiny', 'a']);
  files[`${archive}/data.pkl`] = statePkl(views);
  for (const [k, v] of Object.entries(storages)) files[`${archive}/data/${k}`] = v;
  files[`${archive}/byteorder`] = Buffer.from('little');
  files[`${archive}/version`] = Buffer.from('3\n');
  return zipOf(files, { zip64: rng.chance(0.15) });
}

const ST_CODES = Object.keys(SAFETENSORS_DTYPES) as SafetensorsDType[];

/** A small valid safetensors file: a few tensors of every dtype, 0-dim and empty ones among them. */
export function validSafetensors(rng: Rng): Uint8Array {
  const count = 1 + rng.int(6);
  const tensors: Array<{ name: string; dtype: SafetensorsDType; shape: number[]; data: Uint8Array }> = [];
  for (let i = 0; i < count; i++) {
    const dtype = rng.pick(ST_CODES);
    const shape = rng.pick([[], [0], [3], [2, 3], [1, 2, 2], [4, 0, 2], [5, 1]]);
    const n = shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPES[dtype];
    const data = Buffer.alloc(n);
    for (let j = 0; j < n; j++) data[j] = dtype === 'BOOL' ? j % 2 : rng.int(256) & (dtype.startsWith('F') || dtype === 'BF16' ? 0x3f : 0xff);
    tensors.push({ name: `t${i}.${rng.pick(['weight', 'bias', 'ü', ''])}`, dtype, shape, data });
  }
  return safetensorsOf(tensors, rng.chance(0.5) ? { format: 'pt', note: 'fuzz' } : undefined);
}

// ---------------------------------------------------------------------------------------------
// Raw mutations (any format).

const INTERESTING_32 = [0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

function bitFlips(rng: Rng, b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let k = 1 + rng.int(8); k > 0; k--) {
    const at = rng.int(out.length);
    out[at] = out[at]! ^ (1 << rng.int(8));
  }
  return out;
}
function byteSets(rng: Rng, b: Buffer, within = b.length): Buffer {
  const out = Buffer.from(b);
  for (let k = 1 + rng.int(4); k > 0; k--) out[rng.int(Math.min(within, out.length))] = rng.pick([0, 0xff, 0x7f, 0x80, rng.int(256)]);
  return out;
}
function truncations(rng: Rng, b: Buffer): Buffer {
  const at = rng.int(b.length);
  switch (rng.int(4)) {
    case 0:
      return b.subarray(0, at); // cut the tail
    case 1:
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(64)))]); // drop a range
    case 2:
      return Buffer.concat([b.subarray(0, at), b.subarray(at, at + rng.int(64)), b.subarray(at)]); // repeat a range
    default:
      return b.subarray(0, Math.max(0, b.length - 1 - rng.int(32))); // lose the last bytes (the end records)
  }
}
function raw(rng: Rng, b: Buffer): Buffer {
  const k = rng.int(3);
  return k === 0 ? bitFlips(rng, b) : k === 1 ? byteSets(rng, b, rng.chance(0.5) ? 1024 : b.length) : truncations(rng, b);
}

// ---------------------------------------------------------------------------------------------
// Zip fields.

interface Field {
  at: number;
  width: 2 | 4 | 8;
  what: string;
}

/** The header fields of a zip archive (end records, central and local headers), found as a reader finds them. */
function zipFields(b: Buffer): Field[] {
  const fields: Field[] = [];
  const eocd = b.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0 || eocd + 22 > b.length) return fields;
  for (const [o, w, what] of [
    [8, 2, 'eocd.disk entries'],
    [10, 2, 'eocd.entries'],
    [12, 4, 'eocd.cd size'],
    [16, 4, 'eocd.cd offset'],
    [20, 2, 'eocd.comment length'],
  ] as const)
    fields.push({ at: eocd + o, width: w, what });
  const locator = eocd - 20;
  if (locator >= 0 && b.readUInt32LE(locator) === 0x07064b50) {
    fields.push({ at: locator + 8, width: 8, what: 'zip64 locator.offset' });
    const end64 = Number(b.readBigUInt64LE(locator + 8));
    if (end64 + 56 <= b.length)
      for (const [o, what] of [
        [24, 'entries'],
        [32, 'entries'],
        [40, 'cd size'],
        [48, 'cd offset'],
      ] as const)
        fields.push({ at: end64 + o, width: 8, what: `zip64 end.${what}` });
  }
  let p = b.readUInt32LE(eocd + 16);
  const count = b.readUInt16LE(eocd + 10);
  for (let i = 0; i < count && p !== 0xffffffff && p + 46 <= b.length && b.readUInt32LE(p) === 0x02014b50; i++) {
    for (const [o, w, what] of [
      [8, 2, 'flags'],
      [10, 2, 'method'],
      [20, 4, 'compressed size'],
      [24, 4, 'size'],
      [28, 2, 'name length'],
      [30, 2, 'extra length'],
      [32, 2, 'comment length'],
      [42, 4, 'local offset'],
    ] as const)
      fields.push({ at: p + o, width: w, what: `central[${i}].${what}` });
    const nameLength = b.readUInt16LE(p + 28);
    const extraLength = b.readUInt16LE(p + 30);
    for (let e = p + 46 + nameLength; e + 4 <= Math.min(b.length, p + 46 + nameLength + extraLength); e += 4 + b.readUInt16LE(e + 2)) {
      fields.push({ at: e, width: 2, what: `central[${i}].extra id` }, { at: e + 2, width: 2, what: `central[${i}].extra length` });
      for (let q = e + 4; q + 8 <= Math.min(b.length, e + 4 + b.readUInt16LE(e + 2)); q += 8)
        fields.push({ at: q, width: 8, what: `central[${i}].zip64 value` });
    }
    const local = b.readUInt32LE(p + 42);
    if (local + 30 <= b.length && b.readUInt32LE(local) === 0x04034b50)
      for (const [o, w, what] of [
        [6, 2, 'flags'],
        [8, 2, 'method'],
        [18, 4, 'compressed size'],
        [22, 4, 'size'],
        [26, 2, 'name length'],
        [28, 2, 'extra length'],
      ] as const)
        fields.push({ at: local + o, width: w, what: `local[${i}].${what}` });
    p += 46 + nameLength + extraLength + b.readUInt16LE(p + 32);
  }
  return fields;
}

function setField(rng: Rng, b: Buffer, f: Field): Buffer {
  const out = Buffer.from(b);
  const old = f.width === 2 ? out.readUInt16LE(f.at) : f.width === 4 ? out.readUInt32LE(f.at) : Number(out.readBigUInt64LE(f.at));
  const max = f.width === 2 ? 0xffff : f.width === 4 ? 0xffffffff : Number.MAX_SAFE_INTEGER;
  const choices = [...INTERESTING_32, old + 1, old - 1, old * 2, old >>> 1, b.length, b.length - 1, b.length + 1, rng.u32(), 8];
  let v = rng.pick(choices);
  if (f.width === 8 && rng.chance(0.3)) {
    out.writeBigUInt64LE(rng.pick([2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 32n]), f.at);
    return out;
  }
  v = Math.max(0, Math.min(max, v));
  if (f.width === 2) out.writeUInt16LE(v & 0xffff, f.at);
  else if (f.width === 4) out.writeUInt32LE(v >>> 0, f.at);
  else out.writeBigUInt64LE(BigInt(v), f.at);
  return out;
}

/** The entries of a (valid) archive in order, inflated. */
function zipEntries(b: Buffer): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  const eocd = b.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  let p = b.readUInt32LE(eocd + 16);
  let count = b.readUInt16LE(eocd + 10);
  if (count === 0xffff) {
    const end64 = Number(b.readBigUInt64LE(eocd - 20 + 8));
    count = Number(b.readBigUInt64LE(end64 + 32));
    p = Number(b.readBigUInt64LE(end64 + 48));
  }
  for (let i = 0; i < count; i++) {
    const method = b.readUInt16LE(p + 10);
    const nameLength = b.readUInt16LE(p + 28);
    const extraLength = b.readUInt16LE(p + 30);
    const name = b.subarray(p + 46, p + 46 + nameLength).toString('utf8');
    let compressed = b.readUInt32LE(p + 20);
    let local = b.readUInt32LE(p + 42);
    if (compressed === 0xffffffff) {
      // zipOf's zip64 extra field: size, compressed size, local offset.
      compressed = Number(b.readBigUInt64LE(p + 46 + nameLength + 4 + 8));
      local = Number(b.readBigUInt64LE(p + 46 + nameLength + 4 + 16));
    }
    const start = local + 30 + b.readUInt16LE(local + 26) + b.readUInt16LE(local + 28);
    const data = b.subarray(start, start + compressed);
    out.push([name, method === 8 ? inflateRawSync(data) : Buffer.from(data)]);
    p += 46 + nameLength + extraLength + b.readUInt16LE(p + 32);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pickles.

/** Argument bytes of each opcode that has fixed ones; -N: an N-byte little-endian length, then that many bytes. */
const OP_ARGS = new Map<number, number>([
  [0x80, 1],
  [0x95, 8],
  [0x4a, 4],
  [0x4b, 1],
  [0x4d, 2],
  [0x47, 8],
  [0x71, 1],
  [0x72, 4],
  [0x68, 1],
  [0x6a, 4],
  [0x8a, -1],
  [0x8b, -4],
  [0x58, -4],
  [0x8c, -1],
  [0x8d, -8],
  [0x54, -4],
  [0x55, -1],
  [0x42, -4],
  [0x43, -1],
  [0x8e, -8],
]);

interface Op {
  at: number;
  end: number;
  op: number;
}

/** The opcodes of a pickle (stops at STOP or at the first it cannot step over). */
function disassemble(p: Buffer): Op[] {
  const ops: Op[] = [];
  let at = 0;
  while (at < p.length) {
    const op = p[at]!;
    let end = at + 1;
    const args = OP_ARGS.get(op);
    if (op === 0x63) {
      // GLOBAL: two lines
      const a = p.indexOf(0x0a, end);
      const b = a < 0 ? -1 : p.indexOf(0x0a, a + 1);
      if (b < 0) break;
      end = b + 1;
    } else if (args !== undefined && args > 0) end += args;
    else if (args !== undefined) {
      const w = -args;
      if (end + w > p.length) break;
      const n = w === 1 ? p[end]! : w === 4 ? p.readUInt32LE(end) : Number(p.readBigUInt64LE(end));
      end += w + n;
    }
    if (end > p.length) break;
    ops.push({ at, end, op });
    at = end;
    if (op === 0x2e) break;
  }
  return ops;
}

const INTERESTING_INTS: Array<number | bigint> = [
  0,
  1,
  -1,
  2,
  3,
  255,
  256,
  65535,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 1,
  2 ** 40,
  2 ** 53 - 1,
  2 ** 53,
  2n ** 62n,
  2n ** 63n - 1n,
  -(2 ** 31),
  -(2n ** 63n),
  1 << 15,
  1 << 20,
];

function payloads(canary: string): Buffer[] {
  const cmd = pickleString(`touch ${canary}`);
  const py = pickleString(`__import__('os').system('touch ${canary}')`);
  return [
    pickleBytes('cos\nsystem\n(', cmd, 'tR'),
    pickleBytes('cposix\nsystem\n(', cmd, 'tR'),
    pickleBytes('cnt\nsystem\n(', cmd, 'tR'),
    pickleBytes('cbuiltins\neval\n(', py, 'tR'),
    pickleBytes('cbuiltins\nexec\n(', py, 'tR'),
    pickleBytes('c__builtin__\neval\n(', py, 'tR'),
    pickleBytes('csubprocess\ncheck_output\n((', pickleString('touch'), pickleString(canary), 'ltR'),
    pickleBytes(pickleString('os'), pickleString('system'), [0x93], '(', cmd, 'tR'), // STACK_GLOBAL
    pickleBytes(pickleString('builtins'), pickleString('eval'), [0x93], py, [0x85], 'R'),
    pickleBytes('(', cmd, 'ios\nsystem\n'), // INST
    pickleBytes('(cos\nsystem\n', cmd, 'o'), // OBJ
    pickleBytes('cos\nsystem\n(', cmd, 't', [0x81]), // NEWOBJ
    pickleBytes('cos\nsystem\n(', cmd, 't}', [0x92]), // NEWOBJ_EX
    pickleBytes('cbuiltins\ngetattr\n(cbuiltins\n__import__\n(', pickleString('os'), 'tR', pickleString('system'), 'tR(', cmd, 'tR'),
    pickleBytes('ccollections\nOrderedDict\n)R}', pickleString('__setstate__'), 'cos\nsystem\nsb'), // BUILD with a __setstate__
    pickleBytes('ccollections\nOrderedDict\n(cos\nsystem\n(', cmd, 'tRtR'), // an allowed callable handed a refused one
    pickleBytes('ctorch._utils\n_rebuild_tensor_v2\n(cos\nsystem\n', cmd, 'tR'),
    pickleBytes('ctorch\nload\n(', cmd, 'tR'),
    pickleBytes('ctorch.serialization\n_load\n)R'),
    pickleBytes('cnumpy.core.multiarray\n_reconstruct\n)R'),
    pickleBytes('ctorch._utils\n_rebuild_qtensor\n)R'),
    pickleBytes('cbuiltins\nsetattr\n)R'),
    pickleBytes('ccopyreg\n_reconstructor\n)R'),
    pickleBytes('ctorch._utils\n_rebuild_parameter\n(NN\x88tR'),
    pickleBytes('ctorch\nFloatStorage\n)R'), // REDUCE on a storage type
    pickleBytes([0x82, 1]), // EXT1
    pickleBytes('P1\n'), // PERSID (text protocol)
    pickleBytes('cos\nsystem\n'),
  ];
}

const STRINGS = [
  '',
  'UntypedStorage',
  'ComplexFloatStorage',
  'QInt8Storage',
  'FloatStorage\u0000',
  'storagex',
  'cuda:0',
  '../x',
  '__proto__',
  'constructor',
  'state_dict',
  'model',
  'a'.repeat(1000),
  '0',
  '1',
  'data',
];

/** A mutation of a pickle, aware of its opcodes. */
function mutatePickle(rng: Rng, p: Buffer, canary: string): Buffer {
  const ops = disassemble(p);
  if (ops.length === 0) return bitFlips(rng, p);
  const splice = (at: number, end: number, by: Uint8Array) => Buffer.concat([p.subarray(0, at), by, p.subarray(end)]);
  const pickOp = (pred: (o: Op) => boolean) => {
    const found = ops.filter(pred);
    return found.length ? rng.pick(found) : rng.pick(ops);
  };
  switch (rng.int(10)) {
    case 0:
    case 1: {
      // An integer (a size, stride, offset, numel or memo index) set to an edge value.
      const o = pickOp((x) => x.op === 0x4a || x.op === 0x4b || x.op === 0x4d || x.op === 0x8a);
      const v = rng.chance(0.8) ? rng.pick(INTERESTING_INTS) : rng.u32() - 2 ** 31;
      return splice(o.at, o.end, rng.chance(0.1) ? pickleBytes([0x8a, 9], Buffer.alloc(9, 0x7f)) : pickleInt(v));
    }
    case 2: {
      const o = pickOp((x) => x.op === 0x58 || x.op === 0x8c || x.op === 0x63);
      if (o.op === 0x63) {
        const [module, name] = rng.pick([
          ['torch', rng.pick(Object.keys(STORAGE_TYPES))],
          ['torch', 'UntypedStorage'],
          ['torch', 'ComplexDoubleStorage'],
          ['collections', 'OrderedDict'],
          ['torch._utils', '_rebuild_tensor_v2'],
          ['torch._utils', '_rebuild_parameter'],
          ['torch._utils', '_rebuild_parameter_with_state'],
          ['os', 'system'],
          ['builtins', 'eval'],
          ['torch', 'FloatStorage\r'],
          ['__proto__', 'constructor'],
          ['', ''],
        ]);
        return splice(o.at, o.end, pickleBytes(`c${module}\n${name}\n`));
      }
      const bytes = rng.chance(0.1) ? pickleBytes([0x58, 2, 0, 0, 0, 0xff, 0xfe]) : pickleString(rng.pick(STRINGS));
      return splice(o.at, o.end, bytes);
    }
    case 3: {
      // A code-execution attempt at an opcode boundary.
      const o = rng.pick(ops);
      return splice(o.at, o.at, rng.pick(payloads(canary)));
    }
    case 4: {
      const o = rng.pick(ops);
      return splice(o.at, o.end, Buffer.alloc(0)); // an opcode dropped
    }
    case 5: {
      const o = rng.pick(ops);
      return splice(o.end, o.end, p.subarray(o.at, o.end)); // an opcode repeated
    }
    case 6: {
      // An opcode byte replaced (its arguments are then read as something else).
      const o = rng.pick(ops);
      const out = Buffer.from(p);
      out[o.at] = rng.chance(0.5) ? rng.pick([...OP_ARGS.keys(), 0x28, 0x29, 0x2e, 0x52, 0x62, 0x51, 0x65, 0x75, 0x73, 0x61, 0x93, 0x94, 0x4e]) : rng.int(256);
      return out;
    }
    case 7: {
      // Memo games: a BINGET / LONG_BINGET of an arbitrary slot, or a memo entry overwritten.
      const o = rng.pick(ops);
      const k = rng.pick([0, 1, 2, 3, rng.int(256)]);
      return splice(o.at, o.at, rng.chance(0.5) ? pickleBytes([0x68, k]) : pickleBytes([0x71, k]));
    }
    case 8: {
      // Many repeats of one small opcode: deep stacks, long MARK scans, huge lists.
      const o = rng.pick(ops);
      const unit = rng.pick([
        pickleBytes('('),
        pickleBytes('N'),
        pickleBytes(']'),
        pickleBytes('}'),
        pickleBytes(']N', 'a'),
        pickleBytes('(N', 'e'),
        pickleBytes([0x68, 0]),
      ]);
      const n = rng.pick([1000, 20000, 200000]);
      return splice(o.at, o.at, Buffer.concat(Array.from({ length: n }, () => unit)));
    }
    default:
      return splice(rng.pick(ops).at, p.length, Buffer.alloc(0)); // cut at an opcode boundary (no STOP)
  }
}

// ---------------------------------------------------------------------------------------------
// .pth cases.

/** A torch.save file of views with hostile geometry: huge sizes, stride 0, offsets past the storage, 70 dimensions. */
function hostileViews(rng: Rng): Uint8Array {
  const views: ViewSpec[] = [];
  const storages: Record<string, Uint8Array | Deflated> = {};
  const edge = () => rng.pick([0, 1, 2, 3, 7, 1 << 12, 1 << 15, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53 - 1, rng.int(100)]);
  const count = 1 + rng.int(rng.chance(0.2) ? 40 : 4);
  for (let i = 0; i < count; i++) {
    const type = rng.pick(Object.keys(STORAGE_TYPES) as StorageType[]);
    const numel = rng.chance(0.7) ? 1 + rng.int(16) : edge();
    const dims = rng.chance(0.05) ? 65 + rng.int(10) : rng.int(4);
    let size: number[];
    let stride: number[];
    if (rng.chance(0.3)) {
      // An expanded view around the limits (64 MiB, 64× the storage).
      const bytes = rng.pick([2 ** 26, 2 ** 26 + 8, 2 ** 25, 2 ** 24, 2 ** 30, 2 ** 32]);
      size = [Math.ceil(bytes / STORAGE_TYPES[type] / 1024), 1024];
      stride = [0, 0];
    } else {
      size = Array.from({ length: dims }, () => (rng.chance(0.5) ? 1 + rng.int(4) : edge()));
      stride = Array.from({ length: dims + (rng.chance(0.05) ? 1 : 0) }, () => (rng.chance(0.5) ? rng.int(4) : edge()));
    }
    const offset = rng.chance(0.8) ? 0 : edge();
    const key = rng.chance(0.3) && i > 0 ? String(rng.int(i)) : String(i);
    views.push({ key: `t${i}`, storage: key, numel, size, stride, offset, type });
    if (!(key in storages)) {
      const length = numel * STORAGE_TYPES[type];
      const data = Buffer.alloc(Math.min(length, 1 << 16) + (rng.chance(0.1) ? 1 : 0));
      storages[key] = rng.chance(0.3) ? { deflated: deflateRawSync(data), size: rng.chance(0.7) ? Math.min(length, 0xffffffff) : data.length } : data;
    }
  }
  return pthOf(views, storages);
}

/** Archive-level changes: entries resized, dropped, renamed, doubled, deflated with wrong sizes, the archive in zip64 form. */
function mutateEntries(rng: Rng, entries: Array<[string, Buffer]>, canary: string): Uint8Array {
  let list = entries.map(([n, d]): [string, Buffer | Deflated] => [n, d]);
  const i = rng.int(list.length);
  const [name, data] = list[i]! as [string, Buffer];
  switch (rng.int(8)) {
    case 0:
      list[i] = [name, rng.chance(0.5) ? data.subarray(0, rng.int(data.length)) : Buffer.concat([data, Buffer.alloc(1 + rng.int(16))])];
      break;
    case 1:
      list.splice(i, 1);
      break;
    case 2:
      list[i] = [
        rng.pick(['../x', '/abs', 'C:x', 'a\\b', 'x\u0000y', `${name}/`, name.replace('data.pkl', 'data.pk1'), 'data.pkl', 'a/b/data.pkl', name.toUpperCase()]),
        data,
      ];
      break;
    case 3:
      list.push([name, rng.chance(0.5) ? data : Buffer.alloc(data.length)]);
      break;
    case 4: {
      const size = rng.pick([data.length, data.length + 1, Math.max(0, data.length - 1), data.length * 1000, 0xffffffff, 0]);
      list[i] = [name, { deflated: rng.chance(0.8) ? deflateRawSync(data) : data, size }];
      break;
    }
    case 5:
      list = list.map(([n, d]) => (n.endsWith('byteorder') ? [n, Buffer.from(rng.pick(['big', 'little\n', '', 'LITTLE']))] : [n, d]));
      break;
    case 6: {
      // The pickle rewritten.
      const pkl = list.findIndex(([n]) => n.endsWith('data.pkl'));
      if (pkl >= 0) {
        const [n, d] = list[pkl]!;
        list[pkl] = [n, mutatePickle(rng, d as Buffer, canary)];
      }
      break;
    }
    default:
      list.reverse();
  }
  return zipOf(Object.fromEntries(list.filter(([n], k) => list.findIndex(([m]) => m === n) === k)), { zip64: rng.chance(0.2) });
}

export interface Bases {
  pth: Buffer[];
  safetensors: Buffer[];
}

/** Case `index` of a format: a valid file (made here, or a fixture) mutated by one to three mutations. */
export function makeCase(format: 'pth' | 'safetensors', seed: number, index: number, bases: Bases, canary: string): { bytes: Uint8Array; what: string } {
  const rng = new Rng(seed, format === 'pth' ? 1 : 2, index);
  if (format === 'pth') {
    const fixture = rng.chance(0.1);
    let b: Buffer = Buffer.from(fixture ? rng.pick(bases.pth) : validPth(rng));
    const what: string[] = [fixture ? 'fixture' : 'made'];
    const kind = rng.int(10);
    if (kind <= 2) {
      const entries = (() => {
        try {
          return zipEntries(b);
        } catch {
          return null;
        }
      })();
      if (entries) {
        b = Buffer.from(mutateEntries(rng, entries, canary));
        what.push('entries');
      }
    } else if (kind === 3) {
      b = Buffer.from(hostileViews(rng));
      what.push('hostile views');
    } else if (kind <= 5) {
      const fields = zipFields(b);
      for (let k = 1 + rng.int(2); k > 0 && fields.length; k--) {
        const f = rng.pick(fields);
        b = setField(rng, b, f);
        what.push(f.what);
      }
    } else if (kind <= 7) {
      const entries = zipEntries(b);
      const pkl = entries.findIndex(([n]) => n.endsWith('data.pkl'));
      if (pkl >= 0) {
        entries[pkl] = [entries[pkl]![0], mutatePickle(rng, entries[pkl]![1], canary)];
        if (rng.chance(0.3)) entries[pkl] = [entries[pkl]![0], mutatePickle(rng, entries[pkl]![1], canary)];
      }
      b = Buffer.from(zipOf(Object.fromEntries(entries)));
      what.push('pickle');
    } else {
      b = raw(rng, b);
      what.push('raw');
    }
    if (rng.chance(0.25)) {
      b = raw(rng, b);
      what.push('raw');
    }
    return { bytes: b, what: what.join(', ') };
  }
  const fixture = rng.chance(0.1);
  let b: Buffer = Buffer.from(fixture ? rng.pick(bases.safetensors) : validSafetensors(rng));
  const what: string[] = [fixture ? 'fixture' : 'made'];
  const kind = rng.int(10);
  if (kind <= 1) {
    // The header length.
    const n = Number(b.readBigUInt64LE(0));
    const out = Buffer.from(b);
    const v = rng.pick<number | bigint>([
      0,
      1,
      2,
      7,
      8,
      n - 1,
      n + 1,
      n - 8,
      n + 8,
      b.length - 8,
      b.length - 7,
      b.length,
      2 ** 32,
      2 ** 53,
      2n ** 63n,
      2n ** 64n - 1n,
      100_000_001,
    ]);
    out.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), 0);
    b = out;
    what.push('header length');
  } else if (kind <= 6) {
    b = Buffer.from(mutateHeader(rng, b));
    what.push('header');
  } else b = raw(rng, b);
  if (rng.chance(0.2)) {
    b = raw(rng, b);
    what.push('raw');
  }
  return { bytes: b, what: what.join(', ') };
}

/** A change to a safetensors header's JSON, written back with a correct header length. */
function mutateHeader(rng: Rng, b: Buffer): Uint8Array {
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  let data: Uint8Array = b.subarray(8 + n);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = names.length ? rng.pick(names) : 'x';
  const entry = (header[name] ?? { dtype: 'F32', shape: [1], data_offsets: [0, 4] }) as Record<string, unknown>;
  const offsets = (entry.data_offsets as number[] | undefined) ?? [0, 0];
  let text: string | undefined;
  switch (rng.int(9)) {
    case 0:
      entry.dtype = rng.pick<unknown>([
        'F128',
        'f32',
        '',
        ' F32',
        'F32 ',
        ['F32'],
        32,
        null,
        {},
        'toString',
        '__proto__',
        'constructor',
        'hasOwnProperty',
        'F8_E4M3',
        'C64',
        'U16',
        rng.pick(ST_CODES),
      ]);
      break;
    case 1:
      entry.shape = rng.pick<unknown>([
        [],
        [0],
        [2 ** 53],
        [2 ** 53 + 2],
        [-1],
        [1.5],
        ['2'],
        [[2]],
        null,
        {},
        Array(100).fill(1),
        Array(10000).fill(1),
        [2 ** 31, 2 ** 31, 0],
        [2 ** 40, 2 ** 40],
        [1e308],
        [Number.MAX_SAFE_INTEGER, 0],
      ]);
      break;
    case 2:
      entry.data_offsets = rng.pick<unknown>([
        [offsets[1], offsets[0]],
        [0],
        [0, 0, 0],
        [-1, 3],
        [1.5, 2],
        ['0', '4'],
        [0, 2 ** 64],
        [offsets[1]! + 1, offsets[1]! + 1],
        null,
        [offsets[0], offsets[1]! + 1],
        [offsets[0]! + 1, offsets[1]],
        [0, 1e308],
      ]);
      break;
    case 3:
      header[name] = rng.pick<unknown>([null, [], 'x', 1, {}, { dtype: 'F32' }]);
      break;
    case 4:
      // An own property even for '__proto__' (as JSON.parse makes it), not the prototype.
      Object.defineProperty(header, rng.pick(['', '__proto__', 'constructor', 'toString', '__metadata__', 'x'.repeat(5000), '\u0000', 'ü']), {
        value: rng.chance(0.5) ? { ...entry } : rng.pick<unknown>([{}, null, [], { format: 1 }]),
        enumerable: true,
        configurable: true,
        writable: true,
      });
      break;
    case 5:
      header.__metadata__ = rng.pick<unknown>([null, [], 'x', { k: 1 }, { k: {} }, { k: null }, { k: 'v'.repeat(100000) }, { k: ['a'] }]);
      break;
    case 6:
      delete header[name]; // a gap, or bytes nobody covers
      break;
    case 7:
      // The same key twice (the last wins in JSON.parse), or deeply nested values.
      text = rng.chance(0.5)
        ? JSON.stringify(header).replace(/^\{/, `{${JSON.stringify(name)}:${JSON.stringify(entry)},`)
        : JSON.stringify(header).replace(/^\{/, `{"__metadata__":${'['.repeat(100000)}${']'.repeat(100000)},`);
      break;
    default:
      data = rng.chance(0.5) ? data.subarray(0, rng.int(data.length + 1)) : Buffer.concat([data, Buffer.alloc(1 + rng.int(64))]);
  }
  return safetensorsRaw(header, data, text);
}
