// Test helpers: closeness checks, finite-difference gradient checks, and running code in a child
// process so that a native crash fails a test instead of killing the runner.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Tensor, fromTypedArray, nn, tidy, type training } from '../src/index.js';

export const distRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const indexUrl = new URL('../src/index.js', import.meta.url).href;
export const nativeUrl = new URL('../src/engine/native.js', import.meta.url).href;

export function assertClose(actual: number[] | number, expected: number[] | number, tol = 1e-6, what = ''): void {
  const a = [actual].flat();
  const e = [expected].flat();
  assert.equal(a.length, e.length, `${what} length ${a.length} vs ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const ok = Math.abs(a[i]! - e[i]!) <= tol * Math.max(1, Math.abs(e[i]!)) || (Number.isNaN(a[i]) && Number.isNaN(e[i]));
    assert.ok(ok, `${what}[${i}]: ${a[i]} vs expected ${e[i]} (tol ${tol})`);
  }
}

export function assertTensorClose(actual: Tensor, expected: Tensor | number[], tol = 1e-6, what = ''): void {
  if (!Array.isArray(expected)) assert.deepEqual(actual.shape, expected.shape, `${what} shape`);
  assertClose(actual.toFlatArray(), Array.isArray(expected) ? expected : expected.toFlatArray(), tol, what);
}

/** Deterministic pseudo-random float64 values in [lo, hi) (a small LCG; independent of libtorch's RNG). */
export function values(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  let s = seed >>> 0 || 1;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (s / 2 ** 32) * (hi - lo);
  }
  return out;
}

export interface GradInput {
  shape: number[];
  data?: Float64Array;
  lo?: number;
  hi?: number;
}

/**
 * Checks the analytic gradient of fn (any output; reduced to a scalar by a fixed random weighting)
 * against central finite differences in float64.
 */
export function gradcheck(name: string, fn: (...xs: Tensor[]) => Tensor, inputs: GradInput[], tol = 1e-5, eps = 1e-6): void {
  const datas = inputs.map(
    (inp, k) =>
      inp.data ??
      values(
        inp.shape.reduce((a, b) => a * b, 1),
        17 + 31 * k,
        inp.lo ?? -1,
        inp.hi ?? 1,
      ),
  );
  const build = (ds: Float64Array[], grad: boolean) => ds.map((d, k) => fromTypedArray(d, inputs[k]!.shape, { requiresGrad: grad }));
  let weights: Float64Array | undefined;
  const scalarOf = (out: Tensor): Tensor => {
    if (weights === undefined) weights = values(out.numel(), 99, 0.5, 1.5);
    return out.mul(fromTypedArray(weights, out.shape)).sum();
  };
  const f = (ds: Float64Array[]) => tidy(() => scalarOf(fn(...build(ds, false))).item());
  const analytic = tidy(() => {
    const xs = build(datas, true);
    scalarOf(fn(...xs)).backward();
    return xs.map((x) => {
      const g = x.grad;
      return g === undefined ? new Array<number>(x.numel()).fill(0) : g.toFlatArray();
    });
  });
  datas.forEach((d, k) => {
    for (let i = 0; i < d.length; i++) {
      const orig = d[i]!;
      d[i] = orig + eps;
      const up = f(datas);
      d[i] = orig - eps;
      const down = f(datas);
      d[i] = orig;
      const numeric = (up - down) / (2 * eps);
      const a = analytic[k]![i]!;
      assert.ok(Math.abs(a - numeric) <= tol * Math.max(1, Math.abs(numeric)), `${name}: d/d input${k}[${i}] analytic ${a} vs numeric ${numeric}`);
    }
  });
}

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs an ES module body in a fresh node process with `L` bound to lsr's public API.
 * The body should print what the test checks.
 */
export function runIsolated(body: string, nodeArgs: string[] = []): ChildResult {
  const code = `import * as L from ${JSON.stringify(indexUrl)};\n${body}`;
  const r = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `expr` in a child process and returns the message of the Error it throws (fails on a crash). */
export function errorOf(setup: string, expr: string): string {
  const r = runIsolated(`${setup}
try { ${expr}; console.log(JSON.stringify({ threw: false })); }
catch (e) { console.log(JSON.stringify({ threw: true, isError: e instanceof Error, message: String(e && e.message) })); }`);
  assert.equal(r.signal, null, `child crashed with ${r.signal}: ${r.stderr}`);
  assert.equal(r.status, 0, `child exited ${r.status}: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { threw: boolean; isError?: boolean; message?: string };
  assert.ok(out.threw, `expected an Error from: ${expr}`);
  assert.ok(out.isError, `expected an Error instance from: ${expr}`);
  return out.message!;
}

/** The committed fixtures (made by test/fixtures/make-fixtures.py with PyTorch). */
export const fixtures = join(distRoot, '..', 'test', 'fixtures');

/**
 * A tiny classify-leaves dataset in `dir`: `count` 32 px JPEGs of three classes, each mostly one
 * colour (a few steps learn something); train.csv labels the first 80%, test.csv lists the rest.
 */
export async function writeTinyLeaves(dir: string, classes: readonly string[], count = 30): Promise<void> {
  const { default: sharp } = await import('sharp');
  mkdirSync(join(dir, 'images'), { recursive: true });
  let train = 'image,label\n';
  let test = 'image\n';
  for (let i = 0; i < count; i++) {
    const c = i % classes.length;
    const px = Buffer.alloc(32 * 32 * 3);
    for (let k = 0; k < px.length; k++) px[k] = (k % 3 === c ? 200 : 40) + ((k * 7 + i * 13) % 40);
    await sharp(px, { raw: { width: 32, height: 32, channels: 3 } })
      .jpeg()
      .toFile(join(dir, 'images', `${i}.jpg`));
    if (i < count * 0.8) train += `images/${i}.jpg,${classes[c]}\n`;
    else test += `images/${i}.jpg\n`;
  }
  writeFileSync(join(dir, 'train.csv'), train);
  writeFileSync(join(dir, 'test.csv'), test);
}

/** A classifier without BatchNorm (so that micro-batches change nothing): 8×8×3 pixels → 16 → classes. */
export class TinyMlp extends nn.Module implements training.Classifier {
  readonly hidden: nn.Linear;
  fc: nn.Linear;
  constructor(numClasses: number) {
    super();
    this.hidden = this.registerModule('hidden', new nn.Linear(8 * 8 * 3, 16));
    this.fc = this.registerModule('fc', new nn.Linear(16, numClasses));
  }
  features(x: Tensor): Tensor {
    return tidy(() => this.hidden.forward(x.flatten(1)).relu());
  }
  forward(x: Tensor): Tensor {
    return tidy(() => this.fc.forward(this.features(x)));
  }
  resetClassifier(numClasses: number): nn.Linear {
    return this.replaceModule('fc', new nn.Linear(16, numClasses));
  }
}
