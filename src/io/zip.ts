// A zip reader for torch.save files: the central directory (zip64 included), stored or deflated
// entries. Every offset and size is checked against the file before it is used, and entry names
// that could escape a folder ('../', absolute paths) are refused. A deflated entry is inflated once,
// straight into one buffer of its declared size (never past it), so reading it costs ~1× its size.
import { constants as bufferConstants } from 'node:buffer';
import { inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  size: number;
  /** The entry's bytes (a view into the file for stored entries). */
  read(): Uint8Array;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/**
 * Deflate's largest expansion: a 258-byte match coded in 2 bits is 1032:1. An entry that declares
 * more than this (plus a little for block headers) of its compressed bytes cannot be valid, and
 * is refused before any memory is set aside for it.
 */
const MAX_DEFLATE_RATIO = 1032;
const DEFLATE_SLACK = 1024;

export function readZip(bytes: Uint8Array, source = 'zip'): Map<string, ZipEntry> {
  const fail = (what: string): never => {
    throw new Error(`${source}: not a valid zip archive: ${what}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (offset: number, length: number, what: string) => {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > bytes.length)
      fail(`${what} at offset ${offset} (+${length} bytes) lies outside the file (${bytes.length} bytes)`);
  };
  const u16 = (o: number) => view.getUint16(o, true);
  const u32 = (o: number) => view.getUint32(o, true);
  const u64 = (o: number) => {
    const v = view.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`a 64-bit size or offset (${v}) is too large`);
    return Number(v);
  };

  // The end-of-central-directory record: in the last 22 + 65535 bytes.
  let eocd = -1;
  for (let o = bytes.length - 22; o >= Math.max(0, bytes.length - 22 - 0xffff); o--) {
    if (u32(o) === EOCD) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) fail('no end-of-central-directory record (truncated, or not a zip file)');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    need(eocd - 20, 20, 'the zip64 locator');
    if (u32(eocd - 20) !== ZIP64_LOCATOR) fail('zip64 values without a zip64 locator');
    const at = u64(eocd - 20 + 8);
    need(at, 56, 'the zip64 end-of-central-directory record');
    if (u32(at) !== ZIP64_EOCD) fail('bad zip64 end-of-central-directory signature');
    count = u64(at + 32);
    cdSize = u64(at + 40);
    cdOffset = u64(at + 48);
  }
  need(cdOffset, cdSize, 'the central directory');

  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    need(p, 46, `central directory entry ${i}`);
    if (u32(p) !== CENTRAL) fail(`bad signature of central directory entry ${i}`);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    let compressed = u32(p + 20);
    let size = u32(p + 24);
    const nameLength = u16(p + 28);
    const extraLength = u16(p + 30);
    const commentLength = u16(p + 32);
    let local = u32(p + 42);
    need(p + 46, nameLength + extraLength + commentLength, `the name and extra fields of entry ${i}`);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLength));
    // zip64 extra field: the 64-bit values of the fields set to 0xFFFFFFFF, in this order.
    for (let e = p + 46 + nameLength; e + 4 <= p + 46 + nameLength + extraLength; ) {
      const id = u16(e);
      const len = u16(e + 2);
      if (e + 4 + len > p + 46 + nameLength + extraLength) fail(`entry '${name}' has a malformed extra field`);
      if (id === 0x0001) {
        let q = e + 4;
        const next = () => {
          if (q + 8 > e + 4 + len) fail(`entry '${name}' has a short zip64 extra field`);
          const v = u64(q);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressed === 0xffffffff) compressed = next();
        if (local === 0xffffffff) local = next();
      }
      e += 4 + len;
    }
    p += 46 + nameLength + extraLength + commentLength;

    if (name.includes('\0') || name.includes('\\') || name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.split('/').includes('..'))
      fail(`entry name '${name}' could escape the archive (absolute, '..' or backslash)`);
    if (flags & 1) fail(`entry '${name}' is encrypted`);
    if (method !== 0 && method !== 8) fail(`entry '${name}' uses compression method ${method} (only stored and deflate are read)`);
    if (method === 0 && compressed !== size) fail(`stored entry '${name}' has different sizes (${compressed}, ${size})`);
    need(local, 30, `the local header of '${name}'`);
    if (u32(local) !== LOCAL) fail(`bad local header signature for '${name}'`);
    const dataStart = local + 30 + u16(local + 26) + u16(local + 28);
    need(dataStart, compressed, `the data of '${name}'`);
    if (entries.has(name)) fail(`entry '${name}' appears twice`);
    const raw = bytes.subarray(dataStart, dataStart + compressed);
    entries.set(name, {
      name,
      size,
      read: () => {
        if (method === 0) return raw;
        if (size > compressed * MAX_DEFLATE_RATIO + DEFLATE_SLACK)
          fail(`entry '${name}' declares ${size} bytes from ${compressed} deflated bytes, more than deflate can expand (${MAX_DEFLATE_RATIO}:1)`);
        if (size + 1 > bufferConstants.MAX_LENGTH) fail(`entry '${name}' declares ${size} bytes, more than a buffer can hold`);
        let out: Buffer;
        try {
          // One output chunk of size + 1 bytes: zlib writes into it directly and returns it (the
          // default 16 KiB chunks are concatenated at the end: 2× the entry, and more until the
          // chunks are collected). maxOutputLength refuses a stream longer than declared as soon
          // as it passes the declared size.
          out = inflateRawSync(raw, { chunkSize: Math.max(64, size + 1), maxOutputLength: Math.max(1, size) });
        } catch (e) {
          return fail(`entry '${name}' does not inflate to its ${size} bytes (${(e as Error).message})`);
        }
        if (out.length !== size) fail(`entry '${name}' inflates to ${out.length} bytes, not ${size}`);
        return out;
      },
    });
  }
  return entries;
}
