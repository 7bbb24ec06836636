// A run folder read back as a whole (eval, predict, resume), outputs that would overwrite an
// input, the output folder's lock, and JSON-lines logs with a torn tail (issue 26, part A).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { io, training } from '../src/index.js';
import { parseTrainArgs } from '../src/cli/specs.js';
import { distRoot, writeTinyLeaves } from './helpers.js';

let root = '';
let leaves = '';
let run = '';
const CLASSES = ['acer_rubrum', 'betula_nigra', 'quercus_alba'];

const lsr = (...args: string[]) =>
  spawnSync(process.execPath, [join(distRoot, 'src', 'cli', 'main.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1' },
    timeout: 120_000,
  });
const options = (out: string, data = leaves) => [
  ...['--data', data, '--model', 'resnet18', '--image-size', '32', '--batch-size', '6', '--lr', '0.01', '--workers', '0'],
  ...['--val-fraction', '0.25', '--threads', '1', '--epochs', '1', '--out', out],
];
const config = (out: string, data = leaves) => parseTrainArgs('train', options(out, data)).config;

/** A copy of the trained run, edited. */
function variant(name: string, edit: (dir: string) => void): string {
  const dir = join(root, name);
  cpSync(run, dir, { recursive: true });
  edit(dir);
  return dir;
}
const editJson = (path: string, change: (json: Record<string, unknown>) => unknown) =>
  writeFileSync(path, JSON.stringify(change(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>)));

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'lsr-run-folder-'));
  leaves = join(root, 'leaves');
  await writeTinyLeaves(leaves, CLASSES);
  run = join(root, 'run');
  (await training.train(config(run), { log: null })).model.dispose();
});
after(() => rmSync(root, { recursive: true, force: true }));

describe('a run folder is checked as a whole when read back', () => {
  test('predict refuses a vocab.json whose classes were reordered, rather than writing every label wrong', () => {
    const dir = variant('reversed-vocab', (d) => writeFileSync(join(d, 'vocab.json'), JSON.stringify({ classes: [...CLASSES].reverse() })));
    const out = join(root, 'reversed.csv');
    const r = lsr('predict', '--run', dir, '--data', join(leaves, 'test.csv'), '--out', out);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /lsr: .*reversed-vocab\/vocab\.json: its classes differ from those .*reversed-vocab\/best\.safetensors was trained with \(class 0 is "quercus_alba" there but "acer_rubrum" in the checkpoint\): predictions would be mapped to the wrong labels/,
    );
    assert.ok(!existsSync(out));
  });

  test("recipe.json's values are validated and compared with config.json's", () => {
    const zeroStd = variant('zero-std', (d) => editJson(join(d, 'recipe.json'), (r) => ({ ...r, eval: { ...(r.eval as object), std: [0] } })));
    const r = lsr('predict', '--run', zeroStd, '--data', join(leaves, 'test.csv'), '--out', join(root, 'zero-std.csv'));
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /zero-std\/recipe\.json: 'eval\.std' must hold 3 numbers > 0 \(one per input channel\), got \[0\]/);
    const resized = variant('resized', (d) =>
      editJson(join(d, 'recipe.json'), (r) => ({ ...r, eval: { ...(r.eval as object), transforms: [{ op: 'resize', size: [64, 64] }] } })),
    );
    assert.throws(
      () => training.loadRun(resized),
      /resized\/recipe\.json: 'eval\.transforms\[0\]\.size\[0\]' is 64, but config\.json's options give 32: recipe\.json was edited or belongs to another run/,
    );
    // A key that is not there says so, not 'undefined'.
    const noChannels = variant('no-channels', (d) =>
      editJson(join(d, 'recipe.json'), (r) => {
        const { channels: _, ...rest } = r.eval as Record<string, unknown>;
        return { ...r, eval: rest };
      }),
    );
    assert.throws(() => training.loadRun(noChannels), /no-channels\/recipe\.json: 'eval\.channels' must be 1 or 3, got nothing \(the key is missing\)/);
    const deleted = variant('no-recipe', (d) => unlinkSync(join(d, 'recipe.json')));
    assert.throws(() => training.loadRun(deleted), /no-recipe\/recipe\.json is missing \(every run folder lsr writes has one\)/);
  });

  test('config.json that is not an object, truncated, out of range or of another model is an error naming the file and key', () => {
    const cases: Array<[string, (path: string) => void, RegExp]> = [
      ['array', (p) => writeFileSync(p, '[]'), /array\/config\.json must hold a JSON object/],
      ['truncated', (p) => writeFileSync(p, readFileSync(p, 'utf8').slice(0, 100)), /truncated\/config\.json is not valid JSON \(/],
      ['smoothing', (p) => editJson(p, (c) => ({ ...c, smoothing: 5 })), /smoothing\/config\.json: 'smoothing' must be in \[0, 1\], got 5/],
      ['unknown', (p) => editJson(p, (c) => ({ ...c, colour: 1 })), /unknown\/config\.json has an unknown key 'colour'/],
      // Values of the wrong kind are shown as JSON, never as '[object Object]'.
      ['syncbn', (p) => editJson(p, (c) => ({ ...c, syncBn: { x: 1 } })), /syncbn\/config\.json: 'syncBn' must be true or false, got \{"x":1\}/],
      [
        'object',
        (p) => editJson(p, (c) => ({ ...c, optimizer: ['sgd'] })),
        /object\/config\.json: 'optimizer' must be text \(a name or a path\), got \["sgd"\]/,
      ],
      [
        'model',
        (p) => editJson(p, (c) => ({ ...c, model: 'resnet34' })),
        /model\/config\.json: 'model' is "resnet34", but .*model\/best\.safetensors was trained with "resnet18"/,
      ],
    ];
    for (const [name, edit, message] of cases) {
      const dir = variant(`config-${name}`, (d) => edit(join(d, 'config.json')));
      assert.throws(
        () => training.loadRun(dir),
        (e: Error & { code?: string }) => message.test(e.message) && e.code === 'LSR_BAD_INPUT',
        name,
      );
    }
    // On the command line, before any data is read.
    const r = lsr('eval', '--run', join(root, 'config-array'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^lsr: .*config-array\/config\.json must hold a JSON object\n$/);
  });

  test('--resume with data whose classes differ from the checkpoint is refused', async () => {
    // The same number of classes, another name: without the check, every label would silently move.
    const renamed = join(leaves, 'renamed.csv');
    writeFileSync(renamed, readFileSync(join(leaves, 'train.csv'), 'utf8').replaceAll('acer_rubrum', 'zelkova'));
    const dir = variant('renamed-classes', () => {});
    await assert.rejects(
      training.train({ ...config(dir, renamed), epochs: 2 }, { log: null, resume: true }),
      /--data .*renamed\.csv: its classes differ from those .*renamed-classes\/last\.safetensors was trained with \(class 0 is "betula_nigra" there but "acer_rubrum" in the checkpoint\)/,
    );
  });
});

describe('nothing overwrites an input', () => {
  test('predict --out naming its --data CSV (or a link to it, or a file of the run) is refused and the CSV kept', () => {
    const csv = join(leaves, 'test.csv');
    const before = readFileSync(csv, 'utf8');
    const same = lsr('predict', '--run', run, '--data', csv, '--out', csv);
    assert.equal(same.status, 1);
    assert.match(same.stderr, /--out .*test\.csv would overwrite --data .*test\.csv: choose another --out/);
    const link = join(root, 'link.csv');
    symlinkSync(csv, link);
    assert.match(
      lsr('predict', '--run', run, '--data', csv, '--out', link).stderr,
      /--out .*link\.csv would overwrite --data .*test\.csv \(.*link\.csv is the same file\)/,
    );
    assert.match(
      lsr('predict', '--run', run, '--data', csv, '--out', join(run, 'vocab.json')).stderr,
      /--out .*run\/vocab\.json would overwrite the run's .*run\/vocab\.json/,
    );
    assert.equal(readFileSync(csv, 'utf8'), before);
  });

  test("a run whose --weights are the checkpoint it would write is refused, and --out's lock released", async () => {
    // Weights fine-tuned from, saved where the run writes its best checkpoint.
    const dir = variant('own-weights', (d) => {
      const c = training.loadCheckpoint(join(d, 'best.safetensors'));
      io.saveSafetensors(join(d, 'best.safetensors'), c.model);
      c.dispose();
    });
    const weights = join(dir, 'best.safetensors');
    await assert.rejects(
      training.Trainer.create({ ...config(dir), weights }, { log: null, overwrite: true }),
      /the run's best\.safetensors in --out .*own-weights would overwrite --weights .*own-weights\/best\.safetensors: choose another --out/,
    );
    assert.ok(!existsSync(join(dir, io.LOCK_FILE)));
  });
});

describe("an output folder is locked for a run's life", () => {
  test('a second writer is refused with the first one’s pid: train --overwrite, and compare', () => {
    const out = join(root, 'locked');
    const lock = io.lockFolder(out, `--out ${out}`);
    try {
      const r = lsr('train', ...options(out), '--overwrite');
      assert.equal(r.status, 1, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`--out .*locked is in use by another lsr run \\(pid ${process.pid}, since [\\dT:.Z-]+\\): wait for it to end, or choose another folder`),
      );
      const c = lsr('compare', ...options(out), '--smoothing', '0,0.1');
      assert.equal(c.status, 1, c.stderr);
      assert.match(c.stderr, new RegExp(`--out .*locked is in use by another lsr run \\(pid ${process.pid}`));
      assert.ok(!existsSync(join(out, 'config.json')) && !existsSync(join(out, 'smoothing-0')));
    } finally {
      lock.release();
    }
    assert.ok(!existsSync(join(out, io.LOCK_FILE)));
  });

  test('a stale lock (its process gone) is taken over with a warning', () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const dir = join(root, 'stale-lock');
    io.lockFolder(dir, 'x').release();
    writeFileSync(join(dir, io.LOCK_FILE), JSON.stringify({ pid: dead, host: hostname(), since: 'then' }));
    const warnings: string[] = [];
    const lock = io.lockFolder(dir, `--out ${dir}`, (l) => warnings.push(l));
    assert.deepEqual(warnings, [`warning: --out ${dir}: took over the lock of pid ${dead}, which is no longer running (it held it since then)`]);
    assert.equal(JSON.parse(readFileSync(lock.path, 'utf8')).pid, process.pid);
    lock.release();
    assert.ok(!existsSync(lock.path));
  });
});

describe('append-only logs tolerate a torn tail', () => {
  test('--resume drops a last metrics.jsonl line cut short by a crash, with a warning, and rewrites the file without it', async () => {
    const dir = variant('torn-metrics', () => {});
    const metrics = join(dir, 'metrics.jsonl');
    const whole = readFileSync(metrics, 'utf8');
    appendFileSync(metrics, '{"epoch":2,"trainLoss":0.9,"trainAcc');
    const lines: string[] = [];
    (await training.train(config(dir), { log: (l) => lines.push(l), resume: true })).model.dispose();
    assert.ok(
      lines.includes(`warning: ${metrics}: its last line was cut short (a crash during a write) and is dropped: {"epoch":2,"trainLoss":0.9,"trainAcc`),
      lines.join('\n'),
    );
    assert.equal(readFileSync(metrics, 'utf8'), whole);
    assert.ok(!existsSync(join(dir, io.LOCK_FILE)), 'the run released --out');
  });

  test('garbage before the last line is an error naming the file and line', async () => {
    const dir = variant('garbage-metrics', (d) => writeFileSync(join(d, 'metrics.jsonl'), `not json\n${readFileSync(join(d, 'metrics.jsonl'), 'utf8')}`));
    await assert.rejects(
      training.train(config(dir), { log: null, resume: true }),
      /garbage-metrics\/metrics\.jsonl, line 1: not valid JSON \(.*\); only a last line cut short by a crash is dropped: fix or delete this line/,
    );
    assert.throws(() => training.readMetrics(join(root, 'garbage-metrics', 'metrics.jsonl')), /metrics\.jsonl, line 1: not valid JSON/);
  });

  test('an append after a torn line starts on a line of its own', () => {
    const log = join(root, 'resumes.jsonl');
    writeFileSync(log, '{"epoch":1}\n{"epo');
    const warnings: string[] = [];
    io.appendJsonLine(log, { epoch: 2 }, (l) => warnings.push(l));
    assert.equal(readFileSync(log, 'utf8'), '{"epoch":1}\n{"epoch":2}\n');
    assert.equal(warnings.length, 1);
    // A folder where the log should be is named, not read (EISDIR).
    const folder = join(root, 'a-folder.jsonl');
    mkdirSync(folder);
    assert.throws(() => io.appendJsonLine(folder, { epoch: 1 }), /a-folder\.jsonl is a folder, not a JSON-lines file/);
    assert.throws(() => training.readMetrics(folder), /a-folder\.jsonl is a folder, not a JSON-lines file/);
  });

  test('--resume with another --model is refused naming both models, before any weight is loaded', async () => {
    const dir = variant('other-model', () => {});
    await assert.rejects(
      training.train({ ...config(dir), model: 'resnet20' }, { log: null, resume: true }),
      /--model resnet20: the run in --out .*other-model was trained with --model resnet18; --resume continues a run as it was/,
    );
  });
});
