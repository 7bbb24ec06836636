// The GPU session kit's pieces that run on any machine: JPEG encoding (encode_jpeg), the
// leaves-like generator (scripts/gpu/make-leaves-like.mjs, which needs sharp and not lsr's addon),
// and session.sh's packing of its evidence within the run tool's 8 files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { data } from '../src/index.js';
import { native } from '../src/engine/native.js';
import { distRoot } from './helpers.js';

const repo = join(distRoot, '..');
const dir = mkdtempSync(join(tmpdir(), 'lsr-gpu-kit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A smooth w×h image (JPEG keeps it within a few levels). */
function smooth(w: number, h: number, c: number): data.RawImage {
  const px = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) px[(y * w + x) * c + k] = Math.round(128 + 100 * Math.sin(x / 9 + k) * Math.cos(y / 13 - k));
  return { data: px, width: w, height: h, channels: c };
}

describe('encodeJpeg (libjpeg-turbo)', () => {
  test('RGB and grey images come back from the decoder within JPEG error', async () => {
    for (const c of [3, 1]) {
      const img = smooth(64, 48, c);
      const jpeg = data.encodeJpeg(img, 95);
      assert.ok(Buffer.isBuffer(jpeg) && jpeg[0] === 0xff && jpeg[1] === 0xd8, 'a JPEG starts with FF D8');
      const path = join(dir, `smooth-${c}.jpg`);
      writeFileSync(path, jpeg);
      const back = await data.decode({ kind: 'file', path });
      assert.deepEqual([back.width, back.height, back.channels], [64, 48, c]);
      let sum = 0;
      let max = 0;
      for (let i = 0; i < img.data.length; i++) {
        const d = Math.abs(back.data[i]! - img.data[i]!);
        sum += d;
        max = Math.max(max, d);
      }
      assert.ok(sum / img.data.length < 2 && max < 24, `${c} channels: mean error ${sum / img.data.length}, max ${max}`);
    }
    // Lower quality, smaller file.
    const img = smooth(64, 48, 3);
    assert.ok(data.encodeJpeg(img, 20).length < data.encodeJpeg(img, 95).length);
  });

  test('bad sizes, channels and qualities are clear errors', () => {
    const px = new Uint8Array(10 * 10 * 3);
    assert.throws(() => native.encode_jpeg(px, 10, 11, 3, 90), /encode_jpeg: .*holds 300 bytes, not width × height × channels = 330/);
    assert.throws(() => native.encode_jpeg(new Uint8Array(400), 10, 10, 4, 90), /encode_jpeg: .*1 \(grey\) or 3 \(RGB\) channels/);
    assert.throws(() => native.encode_jpeg(px, 0, 10, 3, 90), /encode_jpeg: .*width and height must be in 1\.\.65535/);
    for (const q of [0, 101]) assert.throws(() => native.encode_jpeg(px, 10, 10, 3, q), /encode_jpeg: .*quality in 1\.\.100/);
    assert.throws(() => native.encode_jpeg(new Float32Array(300) as unknown as Uint8Array, 10, 10, 3, 90), /encode_jpeg: .*Uint8Array/);
  });
});

describe('scripts/gpu/make-leaves-like.mjs', () => {
  const generate = (out: string, workers: number) => {
    const r = spawnSync(
      process.execPath,
      [
        join(repo, 'scripts', 'gpu', 'make-leaves-like.mjs'),
        out,
        '--train',
        '30',
        '--test',
        '6',
        '--classes',
        '4',
        '--size',
        '32',
        '--workers',
        String(workers),
        '--seed',
        '3',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const { train, test, classes } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { train: number; test: number; classes: number };
    return { train, test, classes };
  };

  test("writes classify-leaves' layout, the same images whatever the worker count", async () => {
    const one = join(dir, 'one');
    const two = join(dir, 'two');
    assert.deepEqual(generate(one, 1), { train: 30, test: 6, classes: 4 });
    assert.deepEqual(generate(two, 2), { train: 30, test: 6, classes: 4 });
    const train = readFileSync(join(one, 'train.csv'), 'utf8').trim().split('\n');
    assert.equal(train[0], 'image,label');
    assert.equal(train.length, 31);
    assert.match(train[1]!, /^images\/0\.jpg,[a-z]+_[a-z]+$/);
    assert.equal(new Set(train.slice(1).map((r) => r.split(',')[1])).size, 4, 'every class has images');
    const test = readFileSync(join(one, 'test.csv'), 'utf8').trim().split('\n');
    assert.deepEqual([test[0], test[1], test.length], ['image', 'images/30.jpg', 7]);
    assert.equal(readdirSync(join(one, 'images')).length, 36);
    for (const f of readdirSync(join(one, 'images')))
      assert.deepEqual(readFileSync(join(one, 'images', f)), readFileSync(join(two, 'images', f)), `${f} differs between 1 and 2 workers`);
    assert.equal(readFileSync(join(one, 'train.csv'), 'utf8'), readFileSync(join(two, 'train.csv'), 'utf8'));
    const img = await data.decode({ kind: 'file', path: join(one, 'images', '0.jpg') });
    assert.deepEqual([img.width, img.height, img.channels], [32, 32, 3]);
    // A bad option is refused before any work.
    const bad = spawnSync(process.execPath, [join(repo, 'scripts', 'gpu', 'make-leaves-like.mjs'), join(dir, 'bad'), '--size', 'x'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--size must be an integer/);
  });

  test("needs neither lsr's addon nor dist/: a session whose addon fails still makes PyTorch's data", () => {
    // The script alone in a folder with only node_modules (sharp) beside it, as on a GPU machine whose build failed.
    const alone = join(dir, 'alone');
    mkdirSync(alone);
    copyFileSync(join(repo, 'scripts', 'gpu', 'make-leaves-like.mjs'), join(alone, 'make-leaves-like.mjs'));
    symlinkSync(join(repo, 'node_modules'), join(alone, 'node_modules'));
    const args = ['--train', '12', '--test', '2', '--classes', '3', '--size', '16', '--workers', '1', '--seed', '3'];
    const r = spawnSync(process.execPath, [join(alone, 'make-leaves-like.mjs'), join(alone, 'data'), ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readdirSync(join(alone, 'data', 'images')).length, 14);
    // The same bytes as from the repository, where dist/ and the addon are there.
    const inRepo = spawnSync(process.execPath, [join(repo, 'scripts', 'gpu', 'make-leaves-like.mjs'), join(dir, 'in-repo'), ...args], { encoding: 'utf8' });
    assert.equal(inRepo.status, 0, inRepo.stderr);
    for (const f of readdirSync(join(alone, 'data', 'images')))
      assert.deepEqual(readFileSync(join(alone, 'data', 'images', f)), readFileSync(join(dir, 'in-repo', 'images', f)));
  });
});
