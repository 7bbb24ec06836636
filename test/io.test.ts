// Weight files: safetensors round trips and spec checks, torch.save files, and hostile or broken
// input — each a clear error, never a crash, never code run from the file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { deflateRawSync, constants as zlibConstants } from 'node:zlib';
import * as L from '../src/index.js';
import { io } from '../src/index.js';
import { weightsConvert, weightsInfo } from '../src/cli/weights.js';
import { type ViewSpec, pthOf, zipOf } from './fuzz/files.js';
import { distRoot } from './helpers.js';
import { assertTensorClose, fixtures, runIsolated, values } from './helpers.js';

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

describe('safetensors keys that are Object properties (found by the fuzzer)', () => {
  test("a tensor named '__proto__' survives a round trip, and so does a metadata key '__proto__'", () => {
    L.tidy(() => {
      const tensors = new Map([
        ['__proto__', L.tensor([1, 2])],
        ['constructor', L.tensor([3])],
      ]);
      const bytes = io.serializeSafetensors(tensors, { ['__proto__']: 'kept', format: 'pt' });
      const back = io.parseSafetensors(bytes, 'proto.safetensors');
      assert.deepEqual([...back.tensors.keys()].sort(), ['__proto__', 'constructor']);
      assert.deepEqual(back.tensors.get('__proto__')!.toFlatArray(), [1, 2]);
      assert.deepEqual(Object.entries(back.metadata).sort(), [
        ['__proto__', 'kept'],
        ['format', 'pt'],
      ]);
    });
  });

  test("a tensor named '__metadata__' cannot be written (the format keeps that key)", () => {
    L.tidy(() => assert.throws(() => io.serializeSafetensors(new Map([['__metadata__', L.tensor([1])]])), /a tensor cannot be named '__metadata__'/));
  });
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

describe('memory bombs in small weight files (issue 17, item 4)', () => {
  test('a stride-0 view of one element claiming 4 GiB is refused at once, naming the key, shape, strides and sizes', () => {
    const bomb = pthOf([{ key: 'bomb.weight', storage: '0', numel: 1, size: [1 << 15, 1 << 15], stride: [0, 0] }], { '0': [1] });
    assert.ok(bomb.length < 700, `${bomb.length} bytes`); // the issue's was 524
    const started = performance.now();
    assert.throws(
      () => io.parsePth(bomb, 'bomb.pth'),
      (e: Error) =>
        /^bomb\.pth: tensor 'bomb\.weight' of shape \[32768, 32768\], strides \(0, 0\) and offset 0 over storage '0' \(4 bytes\) would take 4294967296 bytes once materialised, more than 64× its storage and more than 67108864 bytes .*allowExpandedViews/.test(
          e.message,
        ),
    );
    assert.ok(performance.now() - started < 1000);
    // `lsr weights convert` refuses it before writing anything.
    const dir = mkdtempSync(join(tmpdir(), 'lsr-bomb-'));
    try {
      writeFileSync(join(dir, 'bomb.pth'), bomb);
      assert.throws(() => weightsConvert(join(dir, 'bomb.pth'), join(dir, 'out.safetensors'), () => {}), /tensor 'bomb\.weight' of shape \[32768, 32768\]/);
      assert.equal(existsSync(join(dir, 'out.safetensors')), false);
      // The command line: refused, naming the flag that reads it anyway; with the flag, listed.
      const cli = (...args: string[]) =>
        spawnSync(process.execPath, [join(distRoot, 'src', 'cli', 'main.js'), 'weights', 'info', ...args], { encoding: 'utf8' });
      const refused = cli(join(dir, 'bomb.pth'));
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, /tensor 'bomb\.weight' of shape \[32768, 32768\]/);
      const allowed = cli(join(dir, 'bomb.pth'), '--allow-expanded-views');
      assert.equal(allowed.status, 0, allowed.stderr);
      assert.match(allowed.stdout, /bomb\.weight\s+float32\s+\[32768, 32768\]/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Asked for, the view loads (as a view: nothing is materialised).
    L.tidy(() => {
      const t = io.parsePth(bomb, 'bomb.pth', { allowExpandedViews: true }).get('bomb.weight')!;
      assert.deepEqual(t.shape, [32768, 32768]);
      assert.deepEqual(t.stride(), [0, 0]);
    });
  });

  test('many views each under the floor are refused together once they pass 64× the storages and 64 MiB', () => {
    // 16 MiB each over one 4-byte storage: the fifth brings the total past 64 MiB (+ 64 × 4 bytes).
    const views = Array.from({ length: 40 }, (_, i) => ({ key: `t${i}`, storage: '0', numel: 1, size: [1024, 4096], stride: [0, 0] }));
    assert.throws(
      () => io.parsePth(pthOf(views, { '0': [1] }), 'many.pth'),
      /many\.pth: the tensors up to tensor 't4' of shape \[1024, 4096\].* would take 83886080 bytes once materialised, more than 64× the 4 bytes of the file's storages plus 67108864 bytes/,
    );
  });

  test('views that reach past their storage are refused, as PyTorch refuses them', () => {
    const cases: Array<[Omit<ViewSpec, 'key' | 'storage' | 'numel'>, RegExp]> = [
      [
        { size: [2, 3], stride: [3, 1] },
        /a tensor of shape \[2, 3\], strides \(3, 1\) and offset 0 over storage '0' reaches element 5, past the storage's 4 elements/,
      ],
      [{ size: [1], stride: [1], offset: 4 }, /reaches element 4, past the storage's 4 elements/],
      [{ size: [2 ** 40, 2 ** 40], stride: [2 ** 40, 1] }, /reaches element \d+, past the storage's 4 elements/],
      [{ size: [2], stride: [-1] }, /malformed _rebuild_tensor_v2 arguments/],
      [{ size: [2, 2], stride: [1] }, /sizes and strides differ in length/],
      // Empty, but libtorch multiplies the sizes first (found by the fuzzer: "as_strided: numel: integer multiplication overflow").
      [{ size: [2 ** 40, 2 ** 40, 0], stride: [1, 1, 1] }, /has sizes whose product \(1208925819614629174706176\) is too large to hold/],
    ];
    for (const [view, message] of cases)
      assert.throws(() => io.parsePth(pthOf([{ key: 'w', storage: '0', numel: 4, ...view }], { '0': [1, 2, 3, 4] }), 'past.pth'), message);
    // An empty view may sit anywhere, as in PyTorch.
    L.tidy(() =>
      assert.deepEqual(
        io.parsePth(pthOf([{ key: 'w', storage: '0', numel: 4, size: [0, 3], stride: [3, 1], offset: 4 }], { '0': [1, 2, 3, 4] })).get('w')!.shape,
        [0, 3],
      ),
    );
  });

  test('expanded and strided views within proportion load as PyTorch loads them', () => {
    // torch.save(torch.tensor([1., 2, 3]).expand(4, 3)) saves the 3-element storage with strides (0, 1);
    // a transposed view saves its storage and strides (1, 2); a tied weight is one storage under two keys.
    L.tidy(() => {
      const sd = io.parsePth(
        pthOf(
          [
            { key: 'expanded', storage: '0', numel: 3, size: [4, 3], stride: [0, 1] },
            { key: 'transposed', storage: '1', numel: 6, size: [3, 2], stride: [1, 3] },
            { key: 'offset', storage: '1', numel: 6, size: [2], stride: [2], offset: 1 },
            { key: 'tied', storage: '0', numel: 3, size: [3], stride: [1] },
            { key: 'broadcast', storage: '2', numel: 1, size: [2048, 4096], stride: [0, 0] }, // 32 MiB over 4 bytes: under the floor
          ],
          { '0': [1, 2, 3], '1': [1, 2, 3, 4, 5, 6], '2': [0.5] },
        ),
        'views.pth',
      );
      assert.deepEqual(sd.get('expanded')!.toFlatArray(), [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
      assert.deepEqual(sd.get('transposed')!.toFlatArray(), [1, 4, 2, 5, 3, 6]);
      assert.deepEqual(sd.get('offset')!.toFlatArray(), [2, 4]);
      assert.deepEqual(sd.get('tied')!.toFlatArray(), [1, 2, 3]);
      assert.deepEqual([...new Float32Array(sd.get('expanded')!.bytes().slice().buffer)], [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
      assert.deepEqual(sd.get('broadcast')!.shape, [2048, 4096]);
    });
  });

  test('a deflated storage is inflated to exactly its declared size, or refused', () => {
    const data = new Uint8Array(Float32Array.from([1, 2, 3, 4]).buffer);
    const view = [{ key: 'w', storage: '0', numel: 4, size: [4], stride: [1] }];
    L.tidy(() =>
      assert.deepEqual(
        io
          .parsePth(pthOf(view, { '0': { deflated: deflateRawSync(data), size: 16 } }))
          .get('w')!
          .toFlatArray(),
        [1, 2, 3, 4],
      ),
    );
    const longer = { deflated: deflateRawSync(Buffer.concat([data, Buffer.alloc(4)])), size: 16 };
    assert.throws(() => io.parsePth(pthOf(view, { '0': longer }), 'long.pth'), /entry 'archive\/data\/0' does not inflate to its 16 bytes/);
    const shorter = { deflated: deflateRawSync(data.subarray(0, 12)), size: 16 };
    assert.throws(() => io.parsePth(pthOf(view, { '0': shorter }), 'short.pth'), /entry 'archive\/data\/0' inflates to 12 bytes, not 16/);
    // 2 GiB declared from a few bytes: more than deflate can expand, refused before any allocation.
    const huge = [{ key: 'w', storage: '0', numel: 2 ** 29, size: [2 ** 29], stride: [1] }];
    assert.throws(
      () => io.parsePth(pthOf(huge, { '0': { deflated: deflateRawSync(data), size: 2 ** 31 } }), 'huge.pth'),
      /declares 2147483648 bytes from \d+ deflated bytes, more than deflate can expand \(1032:1\)/,
    );
  });

  test('a 256 MiB deflate bomb in a 260 kB file is read with ~2× its size at peak (inflated once, then copied into the tensor)', () => {
    // A stream of 256 deflated MiB of zeros: a 1 MiB piece flushed to a byte boundary, repeated, then a final empty block.
    const piece = deflateRawSync(Buffer.alloc(2 ** 20), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    const stream = Buffer.concat([...Array.from({ length: 256 }, () => piece), deflateRawSync(Buffer.alloc(0))]);
    const size = 2 ** 28;
    const dir = mkdtempSync(join(tmpdir(), 'lsr-deflate-'));
    try {
      const file = join(dir, 'bomb.pth');
      writeFileSync(file, pthOf([{ key: 'w', storage: '0', numel: size / 4, size: [size / 4], stride: [1] }], { '0': { deflated: stream, size } }));
      assert.ok(statSync(file).size < 400_000);
      const r = runIsolated(`
const warm = L.zeros([1 << 16]); warm.dispose();
const before = process.resourceUsage().maxRSS * 1024;
const t = L.io.loadPth(${JSON.stringify(file)}).get('w');
const growth = process.resourceUsage().maxRSS * 1024 - before;
console.log(JSON.stringify({ growth, shape: t.shape, sum: t.sum().item() }));`);
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { growth: number; shape: number[]; sum: number };
      assert.deepEqual(out.shape, [size / 4]);
      assert.equal(out.sum, 0);
      // Before: 16 KiB chunks, concatenated (2×), then copied into the tensor (3×; 3.3 GB for 1 GiB). PyTorch: 1.3×.
      assert.ok(out.growth < 2.3 * size, `peak RSS grew by ${(out.growth / 2 ** 20).toFixed(0)} MiB for a ${size / 2 ** 20} MiB storage`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

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

  test('a list of 500,000 items appended at once is read, not a stack overflow (push(...items))', () => {
    const appends = pickle([0x80, 0x02], '}', key('k'), '](', 'N'.repeat(500_000), 'es.');
    assert.throws(() => io.parsePth(pth(appends), 'appends.pth'), /appends\.pth: no state dict found/);
  });

  test("a safetensors dtype must be a dtype's name, not a list or an Object method", () => {
    for (const dtype of [['F32'], 'toString', 'constructor'])
      assert.throws(() => io.parseSafetensors(safetensors({ w: { dtype, shape: [1], data_offsets: [0, 4] } }, 4), 'x.safetensors'), /unsupported dtype/);
  });
});

describe('a deflate bomb costs weights info nothing (issue 26, item 14)', () => {
  // 256 MiB of zeros in ~260 kB: a 1 MiB piece flushed to a byte boundary, repeated, then a final empty block.
  const piece = deflateRawSync(Buffer.alloc(2 ** 20), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  const stream = Buffer.concat([...Array.from({ length: 256 }, () => piece), deflateRawSync(Buffer.alloc(0))]);
  const size = 2 ** 28;
  const bomb = (declared: number) =>
    pthOf([{ key: 'w', storage: '0', numel: declared / 4, size: [declared / 4], stride: [1] }], { '0': { deflated: stream, size: declared } });

  const dir = mkdtempSync(join(tmpdir(), 'lsr-info-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the shapes are listed without inflating a storage, in about the memory of the process', () => {
    const file = join(dir, 'bomb.pth');
    writeFileSync(file, bomb(size));
    const r = runIsolated(`
const { weightsInfo } = await import(${JSON.stringify(new URL('../src/cli/weights.js', import.meta.url).href)});
const warm = L.zeros([1 << 16]); warm.dispose();
const before = process.resourceUsage().maxRSS * 1024;
const lines = [];
weightsInfo(${JSON.stringify(file)}, (l) => lines.push(l));
console.log(JSON.stringify({ growth: process.resourceUsage().maxRSS * 1024 - before, lines }));`);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { growth: number; lines: string[] };
    assert.match(out.lines[1]!, /^w {5}float32 {3}\[67108864\]$/);
    // Inflated, the storage alone is 256 MiB (and was 2× that with its copy into a tensor).
    assert.ok(out.growth < 32 * 2 ** 20, `peak RSS grew by ${(out.growth / 2 ** 20).toFixed(0)} MiB`);
  });

  test('a storage that would inflate past its declared size is still refused by whatever reads it', () => {
    const file = join(dir, 'long.pth');
    writeFileSync(file, bomb(2 ** 20)); // declares 1 MiB, inflates to 256
    const lines: string[] = [];
    weightsInfo(file, (l) => lines.push(l));
    assert.match(lines[1]!, /^w\s+float32\s+\[262144\]$/);
    assert.throws(() => io.loadPth(file), /entry 'archive\/data\/0' does not inflate to its 1048576 bytes/);
  });
});
