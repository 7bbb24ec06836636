// The lsr command line, run as a user runs it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { io, tidy } from '../src/index.js';
import { distRoot, fixtures } from './helpers.js';

const lsr = (...args: string[]) => spawnSync(process.execPath, [join(distRoot, 'src', 'cli', 'main.js'), ...args], { encoding: 'utf8' });

test('lsr weights convert turns a torch.save file into safetensors, and info lists it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lsr-cli-'));
  try {
    const out = join(dir, 'tiny.safetensors');
    const convert = lsr('weights', 'convert', join(fixtures, 'resnet-tiny.pth'), out);
    assert.equal(convert.status, 0, convert.stderr);
    assert.match(convert.stdout, /wrote 122 tensors/);
    tidy(() => {
      const a = io.loadWeights(join(fixtures, 'resnet-tiny.pth'));
      const b = io.loadSafetensors(out);
      assert.equal(b.metadata.format, 'pt');
      for (const [k, t] of a) assert.ok(t.equal(b.tensors.get(k)!), k);
    });
    const info = lsr('weights', 'info', out);
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /layer1\.0\.conv1\.weight\s+float32\s+\[8, 8, 1, 1\]/);
    assert.match(info.stdout, /122 tensors, 138,134 elements/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('lsr reports bad input and unknown commands with a message and a non-zero status', () => {
  const evil = lsr('weights', 'info', join(fixtures, 'evil-global.pth'));
  assert.equal(evil.status, 1);
  assert.match(evil.stderr, /^lsr: .*refusing to load global '(posix|os)\.system'/);
  const unknown = lsr('frobnicate');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  assert.match(lsr('weights', 'convert', 'a.pth', 'b.bin').stderr, /OUT must end in \.safetensors/);
});
