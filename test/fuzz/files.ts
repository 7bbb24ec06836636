// Weight files built byte by byte, without PyTorch: zip archives (stored or deflated entries),
// torch.save's data.pkl for a dict of tensor views, and safetensors files. The io tests build their
// hostile files with these, and the fuzzer (test/fuzz/run.ts) its seeds.

/** A deflated zip entry: its compressed bytes and the size it declares. */
export interface Deflated {
  deflated: Uint8Array;
  size: number;
}

/**
 * A minimal zip archive of the given entries, in order: stored, or deflated as given. With zip64,
 * the central directory gives every size and offset in a zip64 extra field and the archive ends
 * with a zip64 end record and locator, as Python's zipfile writes archives past 4 GiB.
 */
export function zipOf(files: Record<string, Uint8Array | Deflated>, options: { zip64?: boolean } = {}): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, entry] of Object.entries(files)) {
    const n = Buffer.from(name);
    const data = entry instanceof Uint8Array ? entry : entry.deflated;
    const size = entry instanceof Uint8Array ? entry.length : entry.size;
    const method = entry instanceof Uint8Array ? 0 : 8;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(n.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(options.zip64 ? 0xffffffff : data.length, 20);
    central.writeUInt32LE(options.zip64 ? 0xffffffff : size, 24);
    central.writeUInt16LE(n.length, 28);
    central.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 42);
    locals.push(local, n, Buffer.from(data));
    if (options.zip64) {
      const extra = Buffer.alloc(28);
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(size), 4);
      extra.writeBigUInt64LE(BigInt(data.length), 12);
      extra.writeBigUInt64LE(BigInt(offset), 20);
      central.writeUInt16LE(extra.length, 30);
      centrals.push(central, n, extra);
    } else centrals.push(central, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const count = Object.keys(files).length;
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(options.zip64 ? 0xffff : count, 8);
  eocd.writeUInt16LE(options.zip64 ? 0xffff : count, 10);
  eocd.writeUInt32LE(options.zip64 ? 0xffffffff : cd.length, 12);
  eocd.writeUInt32LE(options.zip64 ? 0xffffffff : offset, 16);
  if (!options.zip64) return Buffer.concat([...locals, cd, eocd]);
  const end64 = Buffer.alloc(56);
  end64.writeUInt32LE(0x06064b50, 0);
  end64.writeBigUInt64LE(44n, 4);
  end64.writeBigUInt64LE(BigInt(count), 24);
  end64.writeBigUInt64LE(BigInt(count), 32);
  end64.writeBigUInt64LE(BigInt(cd.length), 40);
  end64.writeBigUInt64LE(BigInt(offset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(offset + cd.length), 8);
  locator.writeUInt32LE(1, 16);
  return Buffer.concat([...locals, cd, end64, locator, eocd]);
}

/** torch's storage classes, by the dtype they hold, with their item sizes. */
export const STORAGE_TYPES = {
  FloatStorage: 4,
  DoubleStorage: 8,
  HalfStorage: 2,
  BFloat16Storage: 2,
  LongStorage: 8,
  IntStorage: 4,
  ShortStorage: 2,
  CharStorage: 1,
  ByteStorage: 1,
  BoolStorage: 1,
} as const;
export type StorageType = keyof typeof STORAGE_TYPES;

/** A tensor of a state dict as torch.save pickles it: a view (offset, sizes, strides) of a storage. */
export interface ViewSpec {
  key: string;
  storage: string;
  numel: number;
  size: number[];
  stride: number[];
  offset?: number;
  /** FloatStorage unless given. */
  type?: StorageType;
  /** Wrapped in torch._utils._rebuild_parameter, as a module's parameters are. */
  parameter?: boolean;
}

/** Pickle opcodes' bytes: a string is latin1 text, numbers are bytes. */
export function pickleBytes(...parts: Array<string | number[] | Uint8Array>): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}

/** BINUNICODE: a UTF-8 string. */
export function pickleString(v: string): Buffer {
  const b = Buffer.from(v, 'utf8');
  const n = Buffer.alloc(5);
  n[0] = 0x58;
  n.writeUInt32LE(b.length, 1);
  return Buffer.concat([n, b]);
}

/** An integer as pickle writes it: BININT for 32 bits, LONG1 of 8 bytes beyond. */
export function pickleInt(v: number | bigint): Buffer {
  const big = BigInt(v);
  if (big >= -(2n ** 31n) && big < 2n ** 31n) {
    const b = Buffer.alloc(5);
    b[0] = 0x4a;
    b.writeInt32LE(Number(big), 1);
    return b;
  }
  const b = Buffer.alloc(10);
  b[0] = 0x8a;
  b[1] = 8;
  b.writeBigInt64LE(BigInt.asIntN(64, big), 2);
  return b;
}

/** The data.pkl torch.save writes (protocol 2) for a dict of tensors. */
export function statePkl(views: ViewSpec[]): Buffer {
  const tuple = (items: number[]) => pickleBytes('(', ...items.map(pickleInt), 't');
  const parts: Buffer[] = [pickleBytes([0x80, 0x02], 'ccollections\nOrderedDict\nq\x00)Rq\x01(')];
  for (const v of views) {
    const tensor = pickleBytes(
      'ctorch._utils\n_rebuild_tensor_v2\n(',
      pickleBytes(
        '(',
        pickleString('storage'),
        `ctorch\n${v.type ?? 'FloatStorage'}\n`,
        pickleString(v.storage),
        pickleString('cpu'),
        pickleInt(v.numel),
        'tQ',
      ),
      pickleInt(v.offset ?? 0),
      tuple(v.size),
      tuple(v.stride),
      '\x89ccollections\nOrderedDict\n)Rt',
      'R',
    );
    parts.push(pickleString(v.key), v.parameter ? pickleBytes('ctorch._utils\n_rebuild_parameter\n(', tensor, '\x88ccollections\nOrderedDict\n)RtR') : tensor);
  }
  parts.push(pickleBytes('u.'));
  return Buffer.concat(parts);
}

/** A torch.save archive of views over storages given as float32 values, or as raw or deflated entries. */
export function pthOf(views: ViewSpec[], storages: Record<string, number[] | Uint8Array | Deflated>, archive = 'archive'): Uint8Array {
  const files: Record<string, Uint8Array | Deflated> = { [`${archive}/data.pkl`]: statePkl(views) };
  for (const [k, v] of Object.entries(storages)) files[`${archive}/data/${k}`] = Array.isArray(v) ? new Uint8Array(Float32Array.from(v).buffer) : v;
  files[`${archive}/byteorder`] = Buffer.from('little');
  files[`${archive}/version`] = Buffer.from('3\n');
  return zipOf(files);
}

/** safetensors' dtype codes, with their item sizes. */
export const SAFETENSORS_DTYPES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 } as const;
export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPES;

/** A safetensors file from a header object (written as given) and its data bytes. */
export function safetensorsRaw(header: unknown, data: Uint8Array | number, headerText?: string): Uint8Array {
  const json = Buffer.from(headerText ?? JSON.stringify(header));
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + bytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes, 8 + json.length);
  return out;
}

/** A valid safetensors file of the given tensors (data in order, header padded to 8 bytes as the writers do). */
export function safetensorsOf(
  tensors: Array<{ name: string; dtype: SafetensorsDType; shape: number[]; data: Uint8Array }>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  return safetensorsRaw(null, Buffer.concat(tensors.map((t) => t.data)), json);
}
