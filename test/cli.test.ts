// The lsr command line, run as a user runs it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type SeedDifference, type SeedSummary, readings } from '../src/experiments/index.js';
import { weightsInfo } from '../src/cli/weights.js';
import { evaluation, io, tidy } from '../src/index.js';
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

test('every command takes -h/--help, and lsr --version names the package and libtorch', () => {
  for (const command of ['train', 'compare', 'demo', 'distill', 'eval', 'predict']) {
    for (const flag of ['--help', '-h']) {
      const r = lsr(command, flag);
      assert.equal(r.status, 0, `${command} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: lsr ${command} \\[options\\]`), command);
    }
  }
  const train = lsr('train', '--help').stdout;
  // Every option that works is listed, --momentum and --config among them.
  for (const o of ['--momentum M', '--config FILE', '--resume', '--weight-decay W', '--sync-bn', '--nproc N', '--precision P'])
    assert.ok(train.includes(o), `train --help lacks ${o}`);
  assert.match(lsr('weights', 'info', '--help').stdout, /^usage: lsr weights info FILE/);
  assert.match(lsr('help', 'eval').stdout, /^usage: lsr eval \[options\]/);
  const v = lsr('--version');
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /^lsr(\S*)? \d+\.\d+\.\d+ \(libtorch \d+\.\d+/);
});

test('--k=v and --k v alike; unknown options say which known one is near; stray arguments are named', () => {
  const bad = lsr('eval', '--run=/nonexistent/run');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--run \/nonexistent\/run: no config\.json/);
  const typo = lsr('train', '--learning-rat', '0.1');
  assert.equal(typo.status, 1);
  assert.match(typo.stderr, /unknown option --learning-rat/);
  const near = lsr('train', '--epoch', '3');
  assert.match(near.stderr, /unknown option --epoch \(did you mean --epochs\?\)/);
  assert.match(lsr('eval', '--run', 'a', 'b').stderr, /unexpected argument 'b'/);
  // Names of Object.prototype are not options.
  assert.match(lsr('train', '--to-string', 'x').stderr, /unknown option --to-string/);
  assert.match(lsr('trian').stderr, /unknown command 'trian' \(did you mean 'train'\?\)/);
});

test('docs/cli.md is the reference generated from the option tables (lsr help --markdown)', () => {
  const r = lsr('help', '--markdown');
  assert.equal(r.status, 0, r.stderr);
  const committed = readFileSync(join(distRoot, '..', 'docs', 'cli.md'), 'utf8');
  assert.equal(
    committed,
    `${r.stdout.trimEnd()}\n`,
    'docs/cli.md differs from the option tables: regenerate it with `node dist/src/cli/main.js help --markdown > docs/cli.md`',
  );
});

describe("compare's reading, generated from the numbers", () => {
  const spreadOf = (values: number[]) => evaluation.spread(values);
  const setting = (eps: number, acc: number[], ece: number[], norm: number[]): SeedSummary => ({
    smoothing: eps,
    accuracy: spreadOf(acc),
    nll: spreadOf(acc),
    ece: spreadOf(ece),
    calibratedEce: spreadOf(ece),
    featureNorm: spreadOf(norm),
  });
  const diff = (eps: number, metric: SeedDifference['metric'], a: number[], b: number[]): SeedDifference => ({
    smoothing: eps,
    baseline: 0,
    metric,
    difference: evaluation.pairedDifference(a, b),
  });

  test('three seeds: each claim supported, contradicted or inside the noise, as the intervals say', () => {
    const acc0 = [0.6, 0.62, 0.64];
    const acc1 = [0.65, 0.671, 0.69];
    const text = readings({
      labelNoise: 0.2,
      seeds: [0, 1, 2],
      aggregate: [setting(0, acc0, [0.05, 0.06, 0.07], [9, 9.2, 9.1]), setting(0.1, acc1, [0.02, 0.09, 0.04], [9.5, 9.8, 9.6])],
      differences: [
        diff(0.1, 'accuracy', acc0, acc1),
        diff(0.1, 'nll', acc0, acc1),
        diff(0.1, 'ece', [0.05, 0.06, 0.07], [0.02, 0.09, 0.04]),
        diff(0.1, 'featureNorm', [9, 9.2, 9.1], [9.5, 9.8, 9.6]),
      ],
    }).join(' ');
    assert.match(
      text,
      /^With 20% of the training labels replaced by other classes \(the validation labels are clean\), ε = 0\.1 raised validation accuracy from 62\.00% to 67\.03% \(\+5\.03 pt, 95% CI \+4\.\d\d pt to \+5\.\d\d pt over 3 seeds\): beyond the noise: these runs support the claim that label smoothing makes training robust to label noise\./,
    );
    assert.match(text, /inside the noise: these runs neither support nor contradict the claim that label smoothing improves calibration/);
    assert.match(
      text,
      /from 9\.100 to 9\.633 \(\+0\.533, .*\): beyond the noise, the other way: these runs contradict Müller et al\.'s observation that label smoothing lowers it\./,
    );
  });

  test('one seed says that it cannot tell', () => {
    const text = readings({
      labelNoise: 0,
      seeds: [0],
      aggregate: [setting(0, [0.9], [0.01], [8]), setting(0.1, [0.91], [0.07], [6])],
      differences: [
        diff(0.1, 'accuracy', [0.9], [0.91]),
        diff(0.1, 'nll', [0.9], [0.91]),
        diff(0.1, 'ece', [0.01], [0.07]),
        diff(0.1, 'featureNorm', [8], [6]),
      ],
    });
    assert.equal(text.length, 3);
    for (const t of text) assert.match(t, /one seed, no interval\): one seed cannot tell this from seed-to-seed variation/);
  });
});

test('lsr weights info on a file of 200,000 tensors answers (no spread of 200,000 arguments)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lsr-many-'));
  try {
    const n = 200_000;
    const header: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) header[`layer.${i}.weight`] = { dtype: 'F32', shape: [1], data_offsets: [4 * i, 4 * i + 4] };
    const json = Buffer.from(JSON.stringify(header));
    const bytes = Buffer.alloc(8 + json.length + 4 * n);
    bytes.writeBigUInt64LE(BigInt(json.length), 0);
    json.copy(bytes, 8);
    writeFileSync(join(dir, 'many.safetensors'), bytes);
    const lines: string[] = [];
    weightsInfo(join(dir, 'many.safetensors'), (l) => lines.push(l));
    assert.equal(lines.length, n + 2);
    assert.equal(lines.at(-1), '200000 tensors, 200,000 elements (200,000 floating-point: the parameters and running statistics)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
