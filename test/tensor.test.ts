import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import * as L from '../src/index.js';
import { assertClose } from './helpers.js';

describe('creation and data', () => {
  test('tensor() infers shape, and the dtype: float32 for numbers (as torch.tensor([1.0, 2.0])), int64 for bigints, bool for booleans', () => {
    const f = L.tensor([
      [1, 2.5],
      [3, 4],
    ]);
    assert.deepEqual(f.shape, [2, 2]);
    assert.equal(f.dtype, 'float32');
    assert.deepEqual(f.toArray(), [
      [1, 2.5],
      [3, 4],
    ]);
    assert.equal(L.tensor([1.0, 2.0]).dtype, 'float32');
    assert.equal(L.tensor([1, 2, 3]).dtype, 'float32');
    assert.equal(L.tensor([1n, 2n, 3n]).dtype, 'int64');
    assert.deepEqual(L.tensor([2n ** 60n + 1n]).data(), BigInt64Array.of(2n ** 60n + 1n)); // exact beyond 2^53
    assert.equal(L.tensor([1n, 2]).dtype, 'int64');
    assert.equal(L.tensor([true, false]).dtype, 'bool');
    assert.deepEqual(L.tensor([true, false]).toArray(), [true, false]);
    assert.deepEqual(L.tensor(7.5).shape, []);
    assert.equal(L.tensor(7.5).item(), 7.5);
  });

  test('every dtype round-trips through typed arrays', () => {
    const dtypes: L.DType[] = ['float32', 'float64', 'bfloat16', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];
    for (const dtype of dtypes) {
      const t = L.tensor([0, 1, 2, 3], { dtype });
      assert.equal(t.dtype, dtype);
      const expected = dtype === 'bool' ? [0, 1, 1, 1] : [0, 1, 2, 3];
      assert.deepEqual(t.toFlatArray(), expected, dtype);
    }
    assert.ok(L.tensor([1], { dtype: 'int64' }).data() instanceof BigInt64Array);
    assert.ok(L.tensor([1], { dtype: 'bfloat16' }).data() instanceof Float32Array);
  });

  test('integer dtypes refuse what PyTorch refuses: out of range, NaN, ±Infinity; they truncate toward zero', () => {
    assert.throws(() => L.tensor([300], { dtype: 'uint8' }), /element 0 \(flattened\) is 300, outside uint8's range \[0, 255\]/);
    assert.throws(() => L.tensor([0, 1e20], { dtype: 'int32' }), /element 1 \(flattened\) is 100000000000000000000, outside int32's range/);
    assert.throws(() => L.tensor([NaN], { dtype: 'int32' }), /element 0 \(flattened\) is NaN, which int32 cannot hold/);
    assert.throws(() => L.tensor([-Infinity], { dtype: 'int64' }), /is -Infinity, which int64 cannot hold/);
    assert.throws(() => L.tensor([2n ** 63n], { dtype: 'int64' }), /outside int64's range/);
    assert.deepEqual(L.tensor([-1.7, 2.9, 255], { dtype: 'int16' }).toFlatArray(), [-1, 2, 255]);
    assert.deepEqual(L.tensor([-128, 127], { dtype: 'int8' }).toFlatArray(), [-128, 127]);
  });

  test('a float32 label tensor given to crossEntropy says how to make class indices', () => {
    assert.throws(() => L.crossEntropy(L.zeros([2, 3]), L.tensor([0, 2])), /a number array makes float32: tensor\(labels, \{ dtype: 'int64' \}\), or bigints/);
  });

  test('fromTypedArray copies and checks the length against the shape', () => {
    const src = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = L.fromTypedArray(src, [2, 3]);
    src[0] = 100;
    assert.deepEqual(t.toArray(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.equal(L.fromTypedArray(new Int32Array([1, 2])).dtype, 'int32');
    assert.equal(L.fromTypedArray(new Uint8Array([1, 0]), undefined, { dtype: 'bool' }).dtype, 'bool');
    assert.throws(() => L.fromTypedArray(src, [4, 2]), /24 bytes given for shape \[4, 2\] of float32 \(needs 32\)/);
  });

  test('factories: zeros, ones, full, arange, linspace, eye and the *Like forms', () => {
    assert.deepEqual(L.zeros([2, 2]).toArray(), [
      [0, 0],
      [0, 0],
    ]);
    assert.deepEqual(L.ones([3], { dtype: 'int32' }).toArray(), [1, 1, 1]);
    assert.deepEqual(L.full([2], 2.5).toArray(), [2.5, 2.5]);
    assert.deepEqual(L.arange(5).toArray(), [0, 1, 2, 3, 4]);
    assert.equal(L.arange(5).dtype, 'int64');
    assertClose(L.arange(0, 1, 0.25).toFlatArray(), [0, 0.25, 0.5, 0.75]);
    assertClose(L.linspace(0, 1, 5).toFlatArray(), [0, 0.25, 0.5, 0.75, 1]);
    assert.deepEqual(L.eye(2, 3).toArray(), [
      [1, 0, 0],
      [0, 1, 0],
    ]);
    const x = L.ones([2, 3], { dtype: 'float64' });
    assert.equal(L.zerosLike(x).dtype, 'float64');
    assert.deepEqual(L.fullLike(x, 3).toFlatArray(), [3, 3, 3, 3, 3, 3]);
    assert.equal(L.onesLike(x, { dtype: 'int32' }).dtype, 'int32');
    assert.deepEqual(L.randLike(x).shape, [2, 3]);
    assert.deepEqual(L.randnLike(x).shape, [2, 3]);
    assert.equal(L.randintLike(x, 0, 3).dtype, 'float64');
  });

  test('random factories are seeded by manualSeed and respect their ranges', () => {
    L.manualSeed(42);
    const a = L.randn([100]).toFlatArray();
    L.manualSeed(42);
    const b = L.randn([100]).toFlatArray();
    assert.deepEqual(a, b);
    const r = L.rand([1000]);
    assert.ok(r.min().item() >= 0 && r.max().item() < 1);
    const ri = L.randint(3, 7, [1000]);
    assert.equal(ri.dtype, 'int64');
    assert.ok(ri.min().item() >= 3 && ri.max().item() <= 6);
    assert.deepEqual(L.randperm(6).sort()[0].toArray(), [0, 1, 2, 3, 4, 5]);
  });

  test('RNG state can be saved and restored', () => {
    L.manualSeed(1);
    const state = L.getRngState();
    const first = L.rand([5]).toFlatArray();
    L.setRngState(state);
    assert.deepEqual(L.rand([5]).toFlatArray(), first);
  });

  test('to(), detach(), clone() and contiguous(channels_last)', () => {
    const x = L.arange(24, undefined, 1, { dtype: 'float32' }).reshape(1, 2, 3, 4);
    assert.equal(x.to('float64').dtype, 'float64');
    assert.equal(x.to('cpu').device, 'cpu');
    const cl = x.contiguous('channels_last');
    assert.ok(cl.isContiguous('channels_last'));
    assert.ok(!cl.isContiguous());
    assert.deepEqual(cl.stride(), [24, 1, 8, 2]);
    assert.deepEqual(cl.toArray(), x.toArray());
    const c = x.clone();
    c.fill_(0);
    assert.equal(x.sum().item(), 276);
    const p = L.ones([2], { requiresGrad: true });
    assert.equal(p.detach().requiresGrad, false);
  });

  test('threads can be read and set', () => {
    const before = L.getNumThreads();
    L.setNumThreads(1);
    assert.equal(L.getNumThreads(), 1);
    L.setNumThreads(before);
    assert.equal(L.getNumThreads(), before);
    assert.ok(L.availableCores() >= 1);
  });
});

describe('console.log(tensor) as PyTorch prints it', () => {
  // Each expected string is torch 1.13's repr() of the same tensor.
  const cases: Array<[string, () => L.Tensor, string]> = [
    [
      'floats',
      () =>
        L.tensor([
          [1, 2.5],
          [3, 4],
        ]),
      'tensor([[1.0000, 2.5000],\n        [3.0000, 4.0000]])',
    ],
    ['integer-valued floats', () => L.tensor([1, 2, 3]), 'tensor([1., 2., 3.])'],
    ['int64, right-aligned', () => L.tensor([1n, -20n, 3n]), 'tensor([  1, -20,   3])'],
    ['bool', () => L.tensor([true, false]), 'tensor([ True, False])'],
    ['0-d', () => L.tensor(7.5), 'tensor(7.5000)'],
    ['float64 says its dtype', () => L.tensor([0.1, 0.25], { dtype: 'float64' }), 'tensor([0.1000, 0.2500], dtype=torch.float64)'],
    ['scientific when magnitudes span > 10³', () => L.tensor([1e-5, 1, 3e5]), 'tensor([1.0000e-05, 1.0000e+00, 3.0000e+05])'],
    ['nan and inf', () => L.tensor([NaN, 1.5, Infinity]), 'tensor([   nan, 1.5000,    inf])'],
    ['empty', () => L.zeros([0, 3]), 'tensor([], size=(0, 3))'],
    [
      'summarised past 1000 elements, 80-column lines',
      () => L.arange(2000).to('float32').reshape([2, 1000]),
      'tensor([[0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 9.9700e+02, 9.9800e+02,\n         9.9900e+02],\n        [1.0000e+03, 1.0010e+03, 1.0020e+03,  ..., 1.9970e+03, 1.9980e+03,\n         1.9990e+03]])',
    ],
    ['requires_grad', () => L.ones([2]).requiresGrad_(), 'tensor([1., 1.], requires_grad=True)'],
    ['3-d blocks', () => L.arange(8).reshape([2, 2, 2]), 'tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]])'],
    ['int32', () => L.tensor([1, 2], { dtype: 'int32' }), 'tensor([1, 2], dtype=torch.int32)'],
    ['negative', () => L.tensor([-1.5, 2.25]), 'tensor([-1.5000,  2.2500])'],
  ];
  for (const [name, make, expected] of cases)
    test(name, () => {
      const t = make();
      assert.equal(inspect(t), expected);
      t.dispose();
    });
});
