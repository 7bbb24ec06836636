// Issue 26 (Hardening II), part B: numbers given as options go through one parser that refuses
// empty, non-finite and out-of-range values by name; ranges that depend on the machine or the data
// are checked where the fact is known; list options refuse a repeated item; a loss that is not
// finite says its likely cause. Items 13 and 14: test/losses-seed.test.ts, nn.test.ts, io.test.ts.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { compareCommand } from '../src/cli/commands.js';
import { parseCommandLine } from '../src/cli/options.js';
import { COMMANDS, parseTrainArgs } from '../src/cli/specs.js';
import * as L from '../src/index.js';
import { data, experiments, training } from '../src/index.js';
import { likelyCauses } from '../src/train/divergence.js';
import { runIsolated } from './helpers.js';

let root = '';
/** 24 labelled PNGs of three classes, `side` px a side, in root/name. */
async function images(name: string, side: number): Promise<string> {
  const dir = join(root, name);
  mkdirSync(join(dir, 'images'), { recursive: true });
  let csv = 'image,label\n';
  for (let i = 0; i < 24; i++) {
    const px = Buffer.alloc(side * side * 3);
    for (let k = 0; k < px.length; k++) px[k] = (k % 3 === i % 3 ? 200 : 40) + ((k * 7 + i * 13) % 40);
    await sharp(px, { raw: { width: side, height: side, channels: 3 } })
      .png()
      .toFile(join(dir, 'images', `${i}.png`));
    csv += `images/${i}.png,${['a', 'b', 'c'][i % 3]}\n`;
  }
  writeFileSync(join(dir, 'train.csv'), csv);
  return dir;
}
let small = '';
let onePixel = '';
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'lsr-hardening-'));
  small = await images('small', 16);
  onePixel = await images('one-pixel', 1);
});
after(() => rmSync(root, { recursive: true, force: true }));

const train = (...argv: string[]) => parseTrainArgs('train', [...argv, '--out', join(root, 'never')]).config;

describe('every numeric option goes through one parser (items 2, 6, 12)', () => {
  test("an empty value is refused by name, as 'abc' is, never read as 0", () => {
    assert.throws(() => train('--smoothing='), { code: 'LSR_BAD_INPUT', message: "--smoothing must be a number in [0, 1], got ''" });
    assert.throws(() => train('--smoothing', ''), /^BadInputError: --smoothing must be a number in \[0, 1\], got ''$/);
    assert.throws(() => train('--smoothing', 'abc'), /--smoothing must be a number in \[0, 1\], got 'abc'/);
    // Every number of the run's configuration, from its range in the one table.
    for (const [key, { range }] of Object.entries(training.CONFIG_HELP)) {
      if (!range) continue;
      const flag = `--${training.kebab(key)}`;
      for (const bad of ['', ' ', 'Infinity', 'NaN', '1,5'])
        assert.throws(() => train(`${flag}=${bad}`), new RegExp(`^BadInputError: ${flag} must be .*, got '${bad}'$`), `${flag}=${bad}`);
    }
    // The launcher's and distill's numbers too.
    assert.throws(() => L.distributed.splitLaunchArgs(['--node-rank', '']), /--node-rank must be an integer ≥ 0, got ''/);
    assert.throws(() => L.distributed.splitLaunchArgs(['--dist-timeout=']), /--dist-timeout must be a number in \(0, 2592000\] \(seconds\), got ''/);
    assert.throws(() => parseTrainArgs('distill', ['--beta=']), /--beta must be a number in \[0, 1\], got ''/);
  });

  test("an empty path, name or list is refused by name, never read as a file called ''", () => {
    assert.throws(() => train('--data='), /^BadInputError: --data needs a value, got ''$/);
    assert.throws(() => parseCommandLine(COMMANDS.train, ['--out', ' ']), /^BadInputError: --out needs a value, got ' '$/);
    // A launcher option given no value does not take the next option as its value (a host '--device=cpu' would be waited for).
    assert.throws(() => L.distributed.splitLaunchArgs(['--master-addr', '--device=cpu']), /^Error: option --master-addr needs a value$/);
    // --data naming nothing there says which option and what it takes.
    assert.throws(() => training.loadDataset(join(root, 'nowhere')), /^BadInputError: --data .*nowhere: no such file or folder \(a folder with train\.csv/);
    // A folder where a weights file is expected is named as such, not read (EISDIR).
    assert.throws(() => train('--weights', root), /^BadInputError: --weights must be an existing \.pth or \.safetensors file, got ".*"$/);
    for (const option of ['--data', '--out', '--run'])
      assert.throws(() => parseCommandLine(COMMANDS.predict, [`${option}=`]), new RegExp(`^BadInputError: ${option} needs a value, got ''$`));
  });

  test('out-of-range values that failed far away are refused up front, naming the option', () => {
    assert.throws(() => train('--seed', '1e30'), /--seed must be an integer ≥ 0 \(at most 2\^53 − 1, the largest integer a number holds exactly\), got 1e\+30/);
    assert.throws(() => train('--image-size', '100000'), /--image-size must be an integer in \[0, 4096\] \(0: auto\), got 100000/);
    assert.throws(() => L.distributed.splitLaunchArgs(['--nproc', '100000']), /--nproc must be an integer in \[1, \d+\] \(at most 4 per core\), got 100000/);
  });

  test('--threads and --workers beyond 4 per core are refused; setNumThreads refuses them too, before libtorch hangs', () => {
    const most = 4 * L.availableCores();
    assert.throws(() => train('--threads', '100000'), {
      code: 'LSR_BAD_INPUT',
      message: `--threads 100000 is more than this machine can use: at most ${most} (4 per core, ${most / 4} cores here)`,
    });
    assert.throws(() => train('--workers', '1000000'), /--workers 1000000 is more than this machine can use/);
    assert.equal(train('--threads', String(most)).threads, most);
    assert.equal(L.maxThreads(), most);
    // In a child: were the check missing, this would hang rather than fail.
    const r = runIsolated(`try { L.setNumThreads(1000000); console.log('set'); } catch (e) { console.log(e.code, e.message); }
L.setNumThreads(1); console.log(L.getNumThreads());`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^LSR_BAD_INPUT setNumThreads must be an integer in \[1, \d+\] \(at most 4 per core: \d+ cores here\), got 1000000\n1\n$/);
  });
});

describe('ranges that depend on the data are checked where it is known (items 3, 15)', () => {
  test('a batch larger than the training set is refused with both numbers, before training', async () => {
    const c = train('--data', small, '--model', 'resnet20', '--batch-size', '100000', '--val-fraction', '0.25', '--workers', '0', '--epochs', '1');
    assert.equal(c.lr, 0.1 * (100000 / 256)); // the automatic rate that wrecked such a run
    const out = join(root, 'batch');
    await assert.rejects(training.train({ ...c, out }, { log: null }), {
      code: 'LSR_BAD_INPUT',
      message:
        '--batch-size 100000 is larger than the training set: 18 images after the validation split (6 held out). Each step would be one batch of those 18, ' +
        'trained with a rate scaled for 100000 (the automatic --lr grows with the batch); give --batch-size 18 or less (18: the whole set each step)',
    });
    assert.ok(!existsSync(out), 'nothing written');
    await assert.rejects(training.train({ ...c, batchSize: 19, out }, { log: null }), /--batch-size 19 is larger than the training set: 18 images/);
    // The whole set, asked for explicitly, trains.
    const whole = await training.train({ ...c, batchSize: 18, lr: 0.01, out }, { log: null });
    whole.model.dispose();
    assert.equal(whole.epochs.length, 1);
  });

  test('--crop-padding must be less than the image side', async () => {
    const c = train('--data', small, '--batch-size', '8', '--crop-padding', '100000');
    await assert.rejects(training.prepareRun(c), {
      message:
        '--crop-padding 100000 must be less than the side of the images the model sees, 16 px: a crop of the padded image would often hold no image at all',
    });
    assert.throws(
      () => training.recipeFor({ ...c, imageSize: 32, normalize: 'none', cropPadding: 32 }),
      /--crop-padding 32 must be less than the side of the images the model sees, 32 px/,
    );
    assert.equal(training.recipeFor({ ...c, imageSize: 32, normalize: 'none', cropPadding: 31 }).train.transforms[1]?.op, 'randomCrop');
  });
});

describe('list options are refused up front when an item repeats (item 11)', () => {
  test('compare --smoothing 0.1,0.1 trains nothing and says why', async () => {
    const out = join(root, 'compare-twice');
    await assert.rejects(compareCommand(['--data', small, '--smoothing', '0.1,0.1', '--out', out]), {
      code: 'LSR_BAD_INPUT',
      message: "--smoothing names '0.1' twice in '0.1,0.1': give each value once",
    });
    await assert.rejects(
      compareCommand(['--data', small, '--smoothing', '0.1,0.10', '--out', out]),
      /--smoothing names '0\.1' and '0\.10' \(both 0\.1\) twice/,
    );
    await assert.rejects(compareCommand(['--data', small, '--seeds', '1,1', '--out', out]), /--seeds names '1' twice in '1,1'/);
    await assert.rejects(compareCommand(['--data', small, '--classes', 'a,b,a', '--out', out]), /--classes names 'a' twice in 'a,b,a'/);
    await assert.rejects(compareCommand(['--data', small, '--smoothing', '0,,0.1', '--out', out]), /--smoothing has an empty item in '0,,0\.1'/);
    // The library refuses the same, before any run.
    await assert.rejects(
      experiments.compare(train('--data', small), { smoothings: [0.1, 0.1], log: () => {} }),
      /--smoothing must name distinct values, got 0\.1,0\.1/,
    );
  });
});

describe('a loss that is not finite says its likely cause (item 9)', () => {
  test('1-px images under crop-flip: the images, not the learning rate', async () => {
    const out = join(root, 'one-pixel-run');
    const c = train('--data', onePixel, '--model', 'resnet20', '--batch-size', '8', '--workers', '0', '--epochs', '2', '--threads', '1');
    await assert.rejects(training.train({ ...c, out }, { log: null }), (e: Error) => {
      assert.match(e.message, /^the loss became NaN at epoch 1, batch \d: training stopped; no epoch had finished, so there is no checkpoint\. Likely cause: /);
      assert.match(e.message, /the images are 1×1 px and the crop pads them by 1 px, so most crops hold little or no image/);
      assert.doesNotMatch(e.message, /lower --lr/);
      return true;
    });
  });

  test('each cause from what the run knows; a lower rate only when nothing else explains it', () => {
    const config = { ...training.DEFAULTS, lr: 0.1 };
    const pipeline = { transforms: [], channels: 3 as const, mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2] };
    const causes = (o: Partial<Parameters<typeof likelyCauses>[0]>) => likelyCauses({ config, pipeline, imageSize: 32, beforeAnyUpdate: false, ...o });
    assert.deepEqual(causes({}), ['nothing in the data or the recipe explains it: try a lower --lr']);
    assert.match(causes({ pipeline: { ...pipeline, std: [1e-6, 0.2, 0.2] } })[0]!, /^the training images hardly vary \(the normalisation's std is 0\.000001\)/);
    assert.match(causes({ config: { ...config, lr: 5 } })[0]!, /^--lr 5 is 50× the usual rate for --optimizer sgd at this batch \(0\.1\): lower it$/);
    assert.match(causes({ beforeAnyUpdate: true })[0]!, /^it happened before any update, so the learning rate is not the cause/);
  });
});

describe('advice that fits the command (item 12)', () => {
  test('an unreadable image names the commands that take --skip-bad-images; a recipe that fails is not blamed on the image', async () => {
    const dir = join(root, 'bad-image');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'x.png'), 'not a png');
    const vocab = new data.ClassVocabulary(['a']);
    const list = new data.SampleList([{ source: { kind: 'file', path: join(dir, 'x.png') }, label: 0, name: 'x.png', where: 'x.png (row 1)' }], vocab);
    const pipeline = { transforms: [], channels: 3 as const, mean: [0, 0, 0], std: [1, 1, 1] };
    const read = async (set: data.SampleList, p: data.Pipeline) => {
      for await (const b of new data.DataLoader(set, { batchSize: 1, pipeline: p }).epoch(0)) b.dispose();
    };
    await assert.rejects(
      read(list, pipeline),
      /^Error: x\.png \(row 1\): cannot read the image: .*; fix or remove the image \(the training commands, train, compare, demo and distill, take --skip-bad-images/,
    );
    const good = new data.SampleList(
      [{ source: { kind: 'file', path: join(small, 'images', '0.png') }, label: 0, name: '0.png', where: '0.png (row 1)' }],
      vocab,
    );
    await assert.rejects(read(good, { ...pipeline, transforms: [{ op: 'randomCrop', size: 64 }] }), (e: Error) => {
      assert.match(e.message, /^0\.png \(row 1\): the image was read, but the recipe's transforms failed on it: randomCrop: crop 64×64 is larger/);
      assert.doesNotMatch(e.message, /cannot read|skip-bad-images/);
      return true;
    });
  });
});
