// Weight files: safetensors round trips and spec checks, torch.save files, and hostile or broken
// input — each a clear error, never a crash, never code run from the file.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { io } from '../src/index.js';
import { assertTensorClose, fixtures, values } from './helpers.js';

const pthBytes = () => readFileSync(join(fixtures, 'resnet-tiny.pth'));
const stBytes = () => readFileSync(join(fixtures, 'resnet-tiny.safetensors'));

/** A safetensors file from a header object and a data length (zeros). */
function safetensors(header: unknown, dataBytes: number, headerText?: string): Uint8Array {
  const json = Buffer.from(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

describe('safetensors', () => {
  test('round trip of every dtype, metadata included, written atomically', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lsr-st-'));
    try {
      L.tidy(() => {
        const tensors = new Map([
          ['a.float32', L.fromTypedArray(Float32Array.from(values(6, 1)), [2, 3])],
          ['b.float64', L.fromTypedArray(values(4, 2), [4])],
          ['c.bfloat16', L.tensor([1.5, -2, 3.25], { dtype: 'bfloat16' })],
          ['d.float16', L.tensor([[0.5, 65504]], { dtype: 'float16' })],
          ['e.int64', L.tensor([1, -2, 3e12], { dtype: 'int64' })],
          ['f.int32', L.tensor([7], { dtype: 'int32' })],
          ['g.uint8', L.tensor([0, 255], { dtype: 'uint8' })],
          ['h.bool', L.tensor([true, false, true])],
          ['i.scalar', L.tensor(4.5)],
          ['j.empty', L.zeros([0, 3])],
        ]);
        const path = join(dir, 'w.safetensors');
        io.saveSafetensors(path, tensors, { format: 'pt' });
        const back = io.loadSafetensors(path);
        assert.deepEqual(back.metadata, { format: 'pt' });
        assert.deepEqual([...back.tensors.keys()].sort(), [...tensors.keys()].sort());
        for (const [k, t] of tensors) {
          assert.equal(back.tensors.get(k)!.dtype, t.dtype, k);
          assert.ok(back.tensors.get(k)!.equal(t), k);
        }
        const bytes = readFileSync(path);
        assert.equal(Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)) % 8, 0, 'header padded to 8 bytes');
      });
      assert.deepEqual(readFileSync(join(fixtures, 'resnet-tiny.safetensors')).length > 0, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const t = (dtype: string, shape: number[], offsets: number[]) => ({ dtype, shape, data_offsets: offsets });
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['shorter than 8 bytes', new Uint8Array(5), /5 bytes, too short/],
    ['header length past the end', safetensors({}, 0, '{}').fill(0xff, 0, 8), /header length \d+ exceeds the file/],
    ['header not JSON', safetensors(null, 0, '{nope'), /not UTF-8 JSON/],
    ['header not an object', safetensors(null, 0, '[1,2]'), /does not start with '\{'/],
    ['unknown dtype', safetensors({ w: t('F128', [1], [0, 16]) }, 16), /tensor 'w' has unsupported dtype "F128"/],
    ['negative shape', safetensors({ w: t('F32', [-1], [0, 4]) }, 4), /tensor 'w' has an invalid shape/],
    ['offsets past the end', safetensors({ w: t('F32', [4], [0, 16]) }, 8), /data_offsets \[0, 16\] outside the 8 data bytes/],
    ['size not shape × dtype', safetensors({ w: t('F32', [3], [0, 8]) }, 8), /needs 12 bytes, data_offsets give 8/],
    ['overlap', safetensors({ a: t('F32', [2], [0, 8]), b: t('F32', [2], [4, 12]) }, 12), /overlaps the previous tensor/],
    ['gap', safetensors({ a: t('F32', [1], [0, 4]), b: t('F32', [1], [8, 12]) }, 12), /gap before tensor 'b'/],
    ['trailing bytes', safetensors({ a: t('F32', [1], [0, 4]) }, 8), /cover 4 of 8 data bytes/],
    ['begin after end', safetensors({ a: t('F32', [0], [8, 4]) }, 8), /outside the 8 data bytes/],
    ['bad metadata', safetensors({ __metadata__: { k: 1 } }, 0), /__metadata__.k is not a string/],
  ];
  for (const [name, bytes, message] of cases)
    test(`rejects: ${name}`, () =>
      assert.throws(
        () => io.parseSafetensors(bytes, 'bad.safetensors'),
        (e: Error) => message.test(e.message) && e.message.startsWith('bad.safetensors: '),
      ));
});

describe('torch.save (.pth) files', () => {
  test('the torch.save fixture and its safetensors twin hold the same tensors', () => {
    L.tidy(() => {
      const a = io.loadWeights(join(fixtures, 'resnet-tiny.pth'));
      const b = io.loadWeights(join(fixtures, 'resnet-tiny.safetensors'));
      assert.deepEqual([...a.keys()], [...b.keys()]);
      for (const [k, v] of a) assertTensorClose(v, b.get(k)!, 0, k);
      assert.equal(a.get('bn1.num_batches_tracked')!.dtype, 'int64');
    });
  });

  test('a pickle asking for os.system is refused, and nothing runs', () => {
    rmSync('/tmp/lsr-pwned', { force: true });
    assert.throws(
      () => io.loadPth(join(fixtures, 'evil-global.pth')),
      /refusing to load global '(posix|os)\.system': only tensors and state dicts are allowed/,
    );
    assert.equal(existsSync('/tmp/lsr-pwned'), false);
  });

  test("a zip entry named with '../' is refused", () => {
    assert.throws(() => io.loadPth(join(fixtures, 'evil-path.pth')), /entry name 'evil\/\.\.\/\.\.\/escape' could escape the archive/);
  });

  const broken: Array<[string, (b: Buffer) => Uint8Array, RegExp]> = [
    ['truncated to half', (b) => b.subarray(0, b.length >> 1), /not a valid zip archive|outside the file/],
    ['truncated to 100 bytes', (b) => b.subarray(0, 100), /no end-of-central-directory record/],
    ['wrong magic', (b) => Buffer.concat([Buffer.from('XX'), b.subarray(2)]), /not a PyTorch file \(no zip signature/],
    ['legacy format', () => Buffer.from([0x80, 0x02, 0x8a, 0x0a]), /legacy torch.save format/],
    [
      'central directory offset past the end',
      (b) => {
        const c = Buffer.from(b);
        const eocd = c.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
        c.writeUInt32LE(c.length + 1000, eocd + 16);
        return c;
      },
      /central directory at offset \d+ .* lies outside the file/,
    ],
    [
      'a global outside the allow-list',
      () => {
        // data.pkl: GLOBAL 'builtins eval' in an otherwise valid torch.save archive is refused by name.
        const pkl = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('cbuiltins\neval\n'), Buffer.from(')R.')]);
        return zipOf({ 'a/data.pkl': pkl });
      },
      /refusing to load global 'builtins.eval'/,
    ],
    [
      'a storage whose size does not match',
      () => {
        const pkl = Buffer.from(readPkl());
        return zipOf({ 'archive/data.pkl': pkl, 'archive/data/0': Buffer.alloc(3) });
      },
      /storage '0' holds 3 bytes, 1176 × float32 needs 4704/,
    ],
  ];
  for (const [name, make, message] of broken) test(`rejects: ${name}`, () => assert.throws(() => io.parsePth(make(pthBytes()), 'bad.pth'), message));

  test('fuzz: 2,000 mutations of valid files each load or throw an Error, never crash', () => {
    const sources = [pthBytes(), stBytes()];
    let rng = 12345;
    const next = (n: number) => {
      rng = (Math.imul(rng, 1103515245) + 12345) >>> 0;
      return rng % n;
    };
    let loaded = 0;
    for (let i = 0; i < 2000; i++) {
      const src = sources[i % 2]!;
      const b = Buffer.from(src);
      const kind = next(4);
      if (kind === 0) for (let k = 0; k < 1 + next(8); k++) b[next(b.length)] = next(256);
      else if (kind === 1)
        b.writeUInt32LE(next(2 ** 32), next(b.length - 4)); // a random 32-bit field
      else if (kind === 2) b[next(Math.min(b.length, 4096))] = next(256); // the headers and the pickle
      const bytes = kind === 3 ? b.subarray(0, next(b.length)) : b;
      L.tidy(() => {
        try {
          (i % 2 === 0 ? io.parsePth : (x: Uint8Array, s: string) => io.parseSafetensors(x, s).tensors)(bytes, 'fuzz');
          loaded++;
        } catch (e) {
          assert.ok(e instanceof Error, `mutation ${i} threw a non-Error: ${String(e)}`);
          assert.ok(e.message.length > 0);
        }
      });
    }
    assert.ok(loaded < 2000, 'some mutations must be rejected');
  });
});

/** The data.pkl of the fixture (for building broken archives around it). */
function readPkl(): Uint8Array {
  const entries = io.readZip(pthBytes(), 'fixture');
  return [...entries.values()].find((e) => e.name.endsWith('data.pkl'))!.read();
}

/** A minimal stored zip archive of the given entries. */
function zipOf(files: Record<string, Uint8Array>): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(files)) {
    const n = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(n.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(n.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, n, Buffer.from(data));
    centrals.push(central, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(Object.keys(files).length, 8);
  eocd.writeUInt16LE(Object.keys(files).length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

describe('weight files PyTorch or the reference reader refuse (issue 17, item 5)', () => {
  const pickle = (...parts: Array<string | number[] | Buffer>): Buffer =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.isBuffer(p) ? p : Buffer.from(p))));
  const key = (k: string) => pickle('X', [k.length, 0, 0, 0], k);
  const pth = (pkl: Buffer) => zipOf({ 'archive/data.pkl': pkl });

  test('a pickle string that is not valid UTF-8 is an error (two keys would collide as U+FFFD)', () => {
    const pkl = pickle([0x80, 0x02], '}(', 'X', [2, 0, 0, 0], [0xff, 0xfe], 'N', 'X', [2, 0, 0, 0], [0xfe, 0xff], 'Nu.');
    assert.throws(() => io.parsePth(pth(pkl), 'bad.pth'), /bad\.pth \(archive\/data\.pkl\): a string at offset \d+ is not valid UTF-8/);
  });

  test('a state dict that holds itself, or nests past the limit, is a message, not a stack overflow', () => {
    const selfish = pickle([0x80, 0x02], '}q', [0], key('state_dict'), 'h', [0], 's.');
    assert.throws(() => io.parsePth(pth(selfish), 'self.pth'), /self\.pth: no state dict found/);
    const deep = pickle([0x80, 0x02], ...Array.from({ length: 5000 }, () => pickle('}', key('state_dict'))), '}', 's'.repeat(5000), '.');
    assert.throws(() => io.parsePth(pth(deep), 'deep.pth'), /deep\.pth: the state dict is nested more than 16 levels deep under 'state_dict'\/'model' keys/);
  });

  test("a safetensors dtype must be a dtype's name, not a list or an Object method", () => {
    for (const dtype of [['F32'], 'toString', 'constructor'])
      assert.throws(() => io.parseSafetensors(safetensors({ w: { dtype, shape: [1], data_offsets: [0, 4] } }, 4), 'x.safetensors'), /unsupported dtype/);
  });
});
