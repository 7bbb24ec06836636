// The safetensors format (huggingface/safetensors), read and written to its spec: an 8-byte
// little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__"?: {string: string}}, then the data. Every check happens before any byte of data
// is read: offsets inside the file, sizes equal to shape × dtype, no overlap and no gap.
import { readFileSync } from 'node:fs';
import { type DType, type Tensor, fromBytes } from '../engine/index.js';
import { writeFileAtomic } from './atomic.js';
import { ITEM_SIZE } from './dtypes.js';

const FROM_CODE: Record<string, DType> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const TO_CODE = Object.fromEntries(Object.entries(FROM_CODE).map(([k, v]) => [v, k])) as Record<DType, string>;
/** The reference implementation's limit: a header above 100 MB is refused. */
const MAX_HEADER = 100_000_000;

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses a whole safetensors file already in memory; `source` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors'): SafetensorsFile {
  const fail = (what: string): never => {
    throw new Error(`${source}: not a valid safetensors file: ${what}`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER, bytes.length - 8)))
    fail(`header length ${headerLength} exceeds the file (${bytes.length} bytes) or the 100 MB limit`);
  const n = Number(headerLength);
  if (n < 2 || bytes[8] !== 0x7b) fail("the header does not start with '{'");
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`the header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('the header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;

  // Built with Object.fromEntries: a key '__proto__' is kept as a key (an assignment would drop it).
  const metadataEntries: Array<[string, string]> = [];
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadataEntries.push([k, v as string]);
      }
      continue;
    }
    const e = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) fail(`tensor '${name}' is not an object`);
    // A string naming a dtype, as the reference reader demands (not ["F32"], not 'toString').
    const dtype = typeof e.dtype === 'string' && Object.hasOwn(FROM_CODE, e.dtype) ? FROM_CODE[e.dtype] : undefined;
    if (!dtype) fail(`tensor '${name}' has unsupported dtype ${JSON.stringify(e.dtype)}`);
    const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
    if (!Array.isArray(e.shape) || !e.shape.every(isCount)) fail(`tensor '${name}' has an invalid shape ${JSON.stringify(e.shape)}`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount))
      fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLength) fail(`tensor '${name}' has data_offsets [${begin}, ${end}] outside the ${dataLength} data bytes`);
    const shape = e.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * ITEM_SIZE[dtype!];
    if (end - begin !== expected) fail(`tensor '${name}' of shape [${shape}] and dtype ${e.dtype} needs ${expected} bytes, data_offsets give ${end - begin}`);
    entries.push({ name, dtype: dtype!, shape, begin, end });
  }
  // The spec: the data is indexed entirely, without holes or overlaps.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of sorted) {
    if (e.begin < covered) fail(`tensor '${e.name}' overlaps the previous tensor (offset ${e.begin} < ${covered})`);
    if (e.begin > covered) fail(`the data has a gap before tensor '${e.name}' (bytes ${covered}..${e.begin})`);
    covered = e.end;
  }
  if (covered !== dataLength) fail(`the tensors cover ${covered} of ${dataLength} data bytes`);

  const metadata: Record<string, string> = Object.fromEntries(metadataEntries);
  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    const data = bytes.subarray(dataStart + e.begin, dataStart + e.end); // copied by fromBytes
    tensors.set(e.name, fromBytes(data, e.shape, e.dtype));
  }
  return { tensors, metadata };
}

export function loadSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(readFileSync(path), path);
}

/**
 * The bytes of a safetensors file: tensors sorted by name, the header padded with spaces to a
 * multiple of 8 bytes (so that data is aligned), metadata under __metadata__.
 */
export function serializeSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const entries = [...(tensors instanceof Map ? tensors : new Map(Object.entries(tensors)))].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  // No prototype: a tensor named '__proto__' is a key like any other, not the object's prototype.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new Error("safetensors: a tensor cannot be named '__metadata__' (the format keeps that key for the metadata)");
    const data = t.bytes();
    header[name] = { dtype: TO_CODE[t.dtype], shape: t.shape, data_offsets: [offset, offset + data.length] };
    chunks.push(data);
    offset += data.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Writes a safetensors file atomically (temporary file, then rename). */
export function saveSafetensors(path: string, tensors: Map<string, Tensor> | Record<string, Tensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
