// Every error path gives a JS Error with the op's name and libtorch's first message line.
// Each runs in a child process: a native crash fails the test instead of killing the runner.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { errorOf, nativeUrl, runIsolated } from './helpers.js';
import { parseTrainArgs } from '../src/cli/specs.js';

describe('errors become JS Errors, never crashes', () => {
  test('shape mismatch', () => {
    const m = errorOf('', 'L.ones([2, 3]).add(L.ones([4]))');
    assert.match(m, /^add: The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1$/);
    assert.match(errorOf('', 'L.ones([2, 3]).mm(L.ones([2, 3]))'), /^mm: mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)/);
    assert.match(errorOf('', 'L.ones([6]).view([4])'), /^view: shape '\[4\]' is invalid for input of size 6/);
    assert.match(errorOf('', 'L.F.conv2d(L.ones([1, 2, 5, 5]), L.ones([3, 3, 3, 3]))'), /^conv2d: .*expected input\[1, 2, 5, 5\] to have 3 channels/);
  });

  test('wrong dtype', () => {
    assert.match(errorOf('', 'L.ones([2, 3]).gather(1, L.ones([2, 1]))'), /^gather: gather\(\): Expected dtype int64 for index$/);
    assert.match(errorOf('', 'L.F.crossEntropy(L.ones([2, 3]), L.ones([2], { dtype: "int32" }))'), /^cross_entropy: .*(Int|int)/);
    assert.match(errorOf('', 'L.F.oneHot(L.ones([3]))'), /^one_hot: one_hot is only applicable to index tensor/);
    assert.match(errorOf('', 'L.zeros([2], { dtype: "complex64" })'), /^zeros: argument 1 is an unknown dtype 'complex64'/);
  });

  test('out-of-range indices', () => {
    assert.match(errorOf('', 'L.ones([2, 3]).gather(1, L.tensor([[5n], [0n]]))'), /^gather: index 5 is out of bounds for dimension 1 with size 3/);
    assert.match(errorOf('', 'L.F.oneHot(L.tensor([0n, 4n]), 3)'), /^one_hot: Class values must be smaller than num_classes/);
    assert.match(errorOf('', 'L.F.oneHot(L.tensor([-1n]), 3)'), /^one_hot: Class values must be non-negative/);
    assert.match(errorOf('', 'L.F.crossEntropy(L.ones([2, 3]), L.tensor([0n, 3n]))'), /^cross_entropy: Target 3 is out of bounds/);
    assert.match(errorOf('', 'L.ones([3]).indexSelect(0, L.tensor([7n]))'), /^index_select: .*(out of range|out of bounds)/);
    assert.match(errorOf('', 'L.ones([3]).select(0, 3)'), /^select: .*out of range/);
    assert.match(errorOf('', 'L.ones([3]).narrow(0, 2, 5)'), /^narrow: /);
    assert.match(errorOf('', 'L.zeros([3]).scatter(0, L.tensor([9n]), 1)'), /^scatter: index 9 is out of bounds/);
  });

  test('backward of a non-scalar without a gradient, and of a tensor without grad', () => {
    assert.match(
      errorOf('const x = L.ones([3], { requiresGrad: true });', 'x.mul(2).backward()'),
      /^backward: grad can be implicitly created only for scalar outputs$/,
    );
    assert.match(errorOf('', 'L.ones([3]).sum().backward()'), /^backward: element 0 of tensors does not require grad/);
    assert.match(errorOf('', 'L.ones([2, 2]).item()'), /^item: a Tensor with 4 elements cannot be converted to Scalar/);
  });

  test('use after dispose', () => {
    assert.match(errorOf('const x = L.ones([3]); x.dispose();', 'x.add(1)'), /used after dispose/);
    assert.match(errorOf('const x = L.ones([3]); const y = L.ones([3]); y.dispose();', 'x.add(y)'), /used after dispose/);
    // A handle freed natively behind the Tensor's back is caught by the native check too.
    assert.match(
      errorOf(`const { native } = await import(${JSON.stringify(nativeUrl)}); const x = L.ones([3]); native.dispose(x.handle);`, 'x.mul(2)'),
      /^mul: argument 0 is a disposed tensor \(used after dispose\(\)\)$/,
    );
  });

  test('bad arguments from JS are TypeErrors naming the argument', () => {
    assert.match(errorOf('', 'L.ones([2]).add("x")'), /^add: argument 1 must be a tensor or a number$/);
    assert.match(errorOf('', 'L.zeros([2.5])'), /^zeros: argument 0 must be an array of integers \(element 0\)$/);
    assert.match(errorOf('', 'L.ones([2]).reshape(1e300)'), /^reshape: argument 1 must be an array of integers/);
    assert.match(errorOf('', 'L.ones([2]).sum(0, "yes")'), /^sum: argument 2 must be a boolean$/);
    assert.match(errorOf('', 'L.fromTypedArray(new Float32Array(3), [2])'), /^from_buffer: 12 bytes given for shape \[2\] of float32 \(needs 8\)$/);
    // The library refuses before libtorch is asked (an absurd count would hang it), naming its range.
    assert.match(errorOf('', 'L.setNumThreads(0)'), /^setNumThreads must be an integer in \[1, \d+\] \(at most 4 per core: \d+ cores? here\), got 0$/);
    assert.match(errorOf('', 'L.zeros([-1])'), /^zeros: .*negative/i);
    assert.match(errorOf('', 'L.tensor([[1, 2], [3]])'), /ragged nested array: data\[1\] has shape \[1\] but data\[0\] has \[2\]/);
    assert.match(errorOf('', 'L.ones([2]).to("cuda:0")'), /^to_device: /);
  });

  test('raw native calls with garbage never crash', () => {
    const r = runIsolated(`
      const { createRequire } = await import('node:module');
      const require = createRequire(import.meta.url);
      const native = require(${JSON.stringify(process.cwd())} + '/build/Release/lsr_native.node');
      const junk = [undefined, null, 0, -1, 1e300, NaN, 'x', {}, [], [1, 'a'], () => 1, Symbol('s'), 10n, new Float32Array(2)];
      let errors = 0, calls = 0;
      for (const name of Object.keys(native)) {
        if (['set_num_threads', 'manual_seed', 'set_grad_enabled', 'autocast_enter', 'autocast_exit'].includes(name)) continue;
        for (const j of junk) for (const k of [undefined, j]) {
          calls++;
          try { native[name](j, k, k); } catch (e) { if (e instanceof Error) errors++; }
        }
      }
      console.log(JSON.stringify({ calls, errors }));`);
    assert.equal(r.signal, null, `crashed: ${r.stderr.slice(-2000)}`);
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const { calls, errors } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { calls: number; errors: number };
    assert.ok(calls > 1000);
    assert.ok(errors > calls * 0.9, `${errors} errors of ${calls} calls`);
  });
});

describe('typed errors: a stable code and class, whatever the message says', () => {
  test('non-finite logits from the fused kernel (C++) and from the per-class-ε path (TypeScript) are NonFiniteLogitsError', () => {
    const y = L.tensor([0n, 2n]);
    const fused = () =>
      L.crossEntropy(
        L.tensor([
          [0, 1, 2],
          [0, NaN, 1],
        ]),
        y,
      );
    const perClass = () =>
      L.crossEntropy(
        L.tensor([
          [0, Infinity, 2],
          [0, 0, 1],
        ]),
        y,
        { labelSmoothing: L.tensor([0.1, 0.1, 0.1]) },
      );
    for (const run of [fused, perClass]) {
      assert.throws(run, (e: unknown) => {
        assert.ok(e instanceof L.NonFiniteLogitsError, String(e));
        assert.ok(e instanceof L.LsrError);
        assert.equal(e.code, 'LSR_NONFINITE_LOGITS');
        assert.ok(L.hasErrorCode(e, L.ErrorCode.nonFiniteLogits));
        return true;
      });
    }
  });

  test("libtorch's own errors are NativeError with code LSR_NATIVE, the op named in the message", () => {
    assert.throws(
      () => L.tidy(() => L.ones([2, 3]).add(L.ones([4]))),
      (e: unknown) => {
        assert.ok(e instanceof L.NativeError, String(e));
        assert.equal((e as L.NativeError).code, 'LSR_NATIVE');
        assert.match((e as Error).message, /^add: The size of tensor a/);
        return true;
      },
    );
  });

  test('an option out of range is a BadInputError', () => {
    assert.throws(
      () => parseTrainArgs('train', ['--epochs', '0']),
      (e: unknown) => e instanceof L.BadInputError && e.code === 'LSR_BAD_INPUT' && /--epochs/.test(e.message),
    );
  });
});

describe('a library that behaves as a guest', () => {
  test("importing lsr leaves the process's settings alone; configureRuntime() makes them", () => {
    const r = runIsolated(
      `const before = L.getNumThreads();
       const env = process.env.OPENBLAS_THREAD_TIMEOUT;
       const set = L.configureRuntime({ threads: 2 });
       console.log(JSON.stringify({ before, env: env ?? null, after: L.getNumThreads(), set }));`,
    );
    assert.equal(r.status, 0, r.stderr);
    const { before, env, after, set } = JSON.parse(r.stdout.trim()) as {
      before: number;
      env: string | null;
      after: number;
      set: { threads: number; malloc: string };
    };
    // libtorch's own default inside Node is one thread; the OpenBLAS setting was only there while the addon loaded.
    assert.equal(before, Number(process.env.OMP_NUM_THREADS) || 1);
    assert.equal(env, null);
    assert.equal(after, 2);
    assert.deepEqual(set, { threads: 2, malloc: 'keep' });
    assert.equal(r.stderr, '');
  });

  test("libtorch's warnings reach stderr without glog's 'Logging before InitGoogleLogging' line", () => {
    const r = runIsolated(`const x = L.ones([2], { requiresGrad: true }).mul(2); console.log(String(x.grad));`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /The \.grad attribute of a Tensor that is not a leaf Tensor is being accessed/);
    assert.doesNotMatch(r.stderr, /InitGoogleLogging/);
  });
});
