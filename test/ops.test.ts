// Ops against hand-computed values, and composite forms against libtorch's own kernels.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { F } from '../src/index.js';
import { assertClose, assertTensorClose, distRoot } from './helpers.js';

const t = (v: L.NestedArray, dtype: L.DType = 'float64') => L.tensor(v, { dtype });

describe('elementwise', () => {
  test('arithmetic with broadcasting and scalars', () => {
    const a = t([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const b = t([10, 20, 30]);
    assert.deepEqual(a.add(b).toArray(), [
      [11, 22, 33],
      [14, 25, 36],
    ]);
    assert.deepEqual(a.add(b, 2).toArray(), [
      [21, 42, 63],
      [24, 45, 66],
    ]);
    assert.deepEqual(a.sub(1).toArray(), [
      [0, 1, 2],
      [3, 4, 5],
    ]);
    assert.deepEqual(a.rsub(1).toArray(), [
      [0, -1, -2],
      [-3, -4, -5],
    ]);
    assert.deepEqual(a.mul(b).toArray(), [
      [10, 40, 90],
      [40, 100, 180],
    ]);
    assert.deepEqual(a.div(2).toArray(), [
      [0.5, 1, 1.5],
      [2, 2.5, 3],
    ]);
    assert.deepEqual(t([7, -7]).div(2, 'floor').toArray(), [3, -4]);
    assert.deepEqual(t([7, -7]).div(2, 'trunc').toArray(), [3, -3]);
    assert.deepEqual(a.pow(2).toFlatArray(), [1, 4, 9, 16, 25, 36]);
    assert.deepEqual(a.neg().toFlatArray(), [-1, -2, -3, -4, -5, -6]);
    assert.deepEqual(t([-2, 0.5]).abs().toArray(), [2, 0.5]);
    assert.deepEqual(t([-2, 0, 3]).sign().toArray(), [-1, 0, 1]);
    assert.deepEqual(t([-1, 2]).relu().toArray(), [0, 2]);
    assert.deepEqual(t([-1, 0.5, 2]).clamp(0, 1).toArray(), [0, 0.5, 1]);
    assert.deepEqual(a.maximum(t([3])).toFlatArray(), [3, 3, 3, 4, 5, 6]);
    assert.deepEqual(a.minimum(3).toFlatArray(), [1, 2, 3, 3, 3, 3]);
  });

  test('type promotion follows PyTorch: int tensor × float scalar is float32', () => {
    const i = L.tensor([1n, 2n, 3n]);
    assert.equal(i.mul(2).dtype, 'int64');
    assert.equal(i.mul(0.5).dtype, 'float32');
    assert.equal(i.div(2).dtype, 'float32');
    assert.equal(L.tensor([1], { dtype: 'float64' }).add(1).dtype, 'float64');
  });

  test('transcendental functions', () => {
    const x = t([0.25, 1, 2]);
    assertClose(x.exp().toFlatArray(), [0.25, 1, 2].map(Math.exp), 1e-12);
    assertClose(x.log().toFlatArray(), [0.25, 1, 2].map(Math.log), 1e-12);
    assertClose(x.log1p().toFlatArray(), [0.25, 1, 2].map(Math.log1p), 1e-12);
    assertClose(x.sqrt().toFlatArray(), [0.25, 1, 2].map(Math.sqrt), 1e-12);
    assertClose(
      x.rsqrt().toFlatArray(),
      [0.25, 1, 2].map((v) => 1 / Math.sqrt(v)),
      1e-12,
    );
    assertClose(
      x.sigmoid().toFlatArray(),
      [0.25, 1, 2].map((v) => 1 / (1 + Math.exp(-v))),
      1e-12,
    );
    assertClose(x.tanh().toFlatArray(), [0.25, 1, 2].map(Math.tanh), 1e-12);
    // gelu(x) = x·Φ(x); Φ(1) = 0.8413447460685429
    assertClose(t([1]).gelu().item(), 0.8413447460685429, 1e-12);
  });

  test('atan2 is Math.atan2 in every quadrant, on the axes and at signed zeros; a number broadcasts', () => {
    // (y, x): the four quadrants, the four half-axes, the origin and -0 on the negative x axis (-π).
    const y = [1, 1, -1, -1, 0, 0, 2, -2, 0, -0, 0.5];
    const x = [1, -1, -1, 1, 3, -3, 0, 0, 0, -1, -2];
    const got = t(y).atan2(t(x)).toFlatArray();
    assertClose(
      got,
      y.map((v, i) => Math.atan2(v, x[i]!)),
      1e-14,
    );
    assertClose(
      t(y).atan2(-1).toFlatArray(),
      y.map((v) => Math.atan2(v, -1)),
      1e-14,
    );
    // Integers promote to float32, as in PyTorch; the angle of (1, 1) is π/4.
    const f = L.tensor([1n]).atan2(L.tensor([1n]));
    assert.equal(f.dtype, 'float32');
    assertClose(f.item(), Math.PI / 4, 1e-7);
  });

  test('comparisons, logical ops and where', () => {
    const a = t([1, 2, 3]);
    assert.deepEqual(a.gt(1.5).toArray(), [false, true, true]);
    assert.deepEqual(a.le(2).toArray(), [true, true, false]);
    assert.deepEqual(a.eq(t([1, 0, 3])).toArray(), [true, false, true]);
    assert.deepEqual(a.ne(2).toArray(), [true, false, true]);
    assert.deepEqual(a.lt(3).logicalAnd(a.ge(2)).toArray(), [false, true, false]);
    assert.deepEqual(a.lt(2).logicalOr(a.gt(2)).toArray(), [true, false, true]);
    assert.deepEqual(a.lt(2).logicalNot().toArray(), [false, true, true]);
    assert.deepEqual(L.where(a.gt(1), a, 0).toArray(), [0, 2, 3]);
    assert.deepEqual(L.where(a.gt(1), -1, a).toArray(), [1, -1, -1]);
  });

  test('in-place updates return the same tensor', () => {
    const p = t([1, 2]);
    assert.equal(p.add_(t([1, 1]), 2), p);
    assert.deepEqual(p.toArray(), [3, 4]);
    p.mul_(2).sub_(1);
    assert.deepEqual(p.toArray(), [5, 7]);
    p.addcmul_(t([1, 2]), t([3, 4]), 0.5);
    assert.deepEqual(p.toArray(), [6.5, 11]);
    p.addcdiv_(t([1, 2]), t([2, 4]), 2);
    assert.deepEqual(p.toArray(), [7.5, 12]);
    p.lerp_(t([8.5, 13]), 0.5);
    assert.deepEqual(p.toArray(), [8, 12.5]);
    p.lerp_(t([0, 0]), t([1, 0]));
    assert.deepEqual(p.toArray(), [0, 12.5]);
    p.clamp_(1, 10);
    assert.deepEqual(p.toArray(), [1, 10]);
    p.copy_(t([3, 4]));
    p.div_(2);
    assert.deepEqual(p.toArray(), [1.5, 2]);
    p.fill_(9);
    assert.deepEqual(p.toArray(), [9, 9]);
    p.zero_();
    assert.deepEqual(p.toArray(), [0, 0]);
    const m = t([1, 2, 3]);
    m.maskedFill_(m.gt(1), -1);
    assert.deepEqual(m.toArray(), [1, -1, -1]);
  });
});

describe('reductions', () => {
  const a = t([
    [1, 5, 3],
    [4, 2, 6],
  ]);
  test('sum, mean, max/min with indices, argmax', () => {
    assert.equal(a.sum().item(), 21);
    assert.deepEqual(a.sum(0).toArray(), [5, 7, 9]);
    assert.deepEqual(a.sum(1, true).shape, [2, 1]);
    assert.deepEqual(a.mean(1).toArray(), [3, 4]);
    assert.equal(a.max().item(), 6);
    const [v, i] = a.max(1);
    assert.deepEqual(v.toArray(), [5, 6]);
    assert.deepEqual(i.toArray(), [1, 2]);
    const [mv, mi] = a.min(0);
    assert.deepEqual(mv.toArray(), [1, 2, 3]);
    assert.deepEqual(mi.toArray(), [0, 1, 0]);
    assert.deepEqual(a.argmax(1).toArray(), [1, 2]);
    assert.equal(a.argmax().item(), 5);
    assert.deepEqual(a.amax(0).toArray(), [4, 5, 6]);
  });
  test('logsumexp, var, std, norm, cumsum', () => {
    assertClose(a.logsumexp(1).toFlatArray(), [Math.log(Math.exp(1) + Math.exp(5) + Math.exp(3)), Math.log(Math.exp(4) + Math.exp(2) + Math.exp(6))], 1e-12);
    // var of [1,5,3] with Bessel: mean 3, ss 8, /2 = 4
    assertClose(a.var(1).toFlatArray(), [4, 4], 1e-12);
    assertClose(a.var(1, false, 0).toFlatArray(), [8 / 3, 8 / 3], 1e-12);
    assertClose(a.std(1).toFlatArray(), [2, 2], 1e-12);
    assertClose(a.norm().item(), Math.sqrt(1 + 25 + 9 + 16 + 4 + 36), 1e-12);
    assertClose(a.norm(1, 1).toFlatArray(), [9, 12], 1e-12);
    assert.deepEqual(a.cumsum(1).toArray(), [
      [1, 6, 9],
      [4, 6, 12],
    ]);
  });
  test('all, any, topk, sort', () => {
    const b = L.tensor([
      [true, false],
      [true, true],
    ]);
    assert.equal(b.all().item(), 0);
    assert.equal(b.any().item(), 1);
    assert.deepEqual(b.all(1).toArray(), [false, true]);
    assert.deepEqual(b.any(0).toArray(), [true, true]);
    const [tv, ti] = a.topk(2, 1);
    assert.deepEqual(tv.toArray(), [
      [5, 3],
      [6, 4],
    ]);
    assert.deepEqual(ti.toArray(), [
      [1, 2],
      [2, 0],
    ]);
    const [sv, si] = t([3, 1, 2]).sort();
    assert.deepEqual(sv.toArray(), [1, 2, 3]);
    assert.deepEqual(si.toArray(), [1, 2, 0]);
    assert.deepEqual(t([3, 1, 2]).sort(0, true)[0].toArray(), [3, 2, 1]);
  });
});

describe('shape ops', () => {
  const a = L.arange(6, undefined, 1, { dtype: 'float64' }).reshape(2, 3);
  test('reshape, view, permute, transpose, flatten, squeeze, unsqueeze, expand', () => {
    assert.deepEqual(a.view([3, 2]).toArray(), [
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    assert.deepEqual(a.transpose(0, 1).toArray(), [
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    assert.deepEqual(a.t().shape, [3, 2]);
    assert.deepEqual(a.reshape(1, 2, 3).permute(2, 0, 1).shape, [3, 1, 2]);
    assert.deepEqual(a.reshape(1, 2, 1, 3).squeeze().shape, [2, 3]);
    assert.deepEqual(a.reshape(1, 2, 1, 3).squeeze(2).shape, [1, 2, 3]);
    assert.deepEqual(a.unsqueeze(0).shape, [1, 2, 3]);
    assert.deepEqual(a.reshape(1, 2, 3).flatten(1).shape, [1, 6]);
    assert.deepEqual(t([1, 2]).unsqueeze(1).expand(2, 3).toArray(), [
      [1, 1, 1],
      [2, 2, 2],
    ]);
  });
  test('cat, stack, split, chunk, narrow, select, slice', () => {
    assert.deepEqual(L.cat([a, a], 0).shape, [4, 3]);
    assert.deepEqual(L.stack([a, a], 1).shape, [2, 2, 3]);
    assert.deepEqual(
      a.split(2, 1).map((x) => x.shape),
      [
        [2, 2],
        [2, 1],
      ],
    );
    assert.deepEqual(
      a.split([1, 2], 1).map((x) => x.shape),
      [
        [2, 1],
        [2, 2],
      ],
    );
    assert.deepEqual(a.chunk(3, 1).length, 3);
    assert.deepEqual(a.narrow(1, 1, 2).toArray(), [
      [1, 2],
      [4, 5],
    ]);
    assert.deepEqual(a.select(0, 1).toArray(), [3, 4, 5]);
    assert.deepEqual(a.slice(1, 0, 3, 2).toArray(), [
      [0, 2],
      [3, 5],
    ]);
  });
  test('indexSelect, gather, scatter, scatterAdd, maskedFill, flip, repeat, index', () => {
    const idx = L.tensor([2n, 0n]);
    assert.deepEqual(a.indexSelect(1, idx).toArray(), [
      [2, 0],
      [5, 3],
    ]);
    assert.deepEqual(a.gather(1, L.tensor([[0n], [2n]])).toArray(), [[0], [5]]);
    assert.deepEqual(
      L.zeros([2, 3])
        .scatter(1, L.tensor([[1n], [0n]]), 1)
        .toArray(),
      [
        [0, 1, 0],
        [1, 0, 0],
      ],
    );
    assert.deepEqual(
      L.zeros([3], { dtype: 'float64' })
        .scatterAdd(0, L.tensor([0n, 0n, 2n]), t([1, 2, 3]))
        .toArray(),
      [3, 0, 3],
    );
    assert.deepEqual(a.maskedFill(a.gt(3), -1).toArray(), [
      [0, 1, 2],
      [3, -1, -1],
    ]);
    assert.deepEqual(a.flip(1).toArray(), [
      [2, 1, 0],
      [5, 4, 3],
    ]);
    assert.deepEqual(t([1, 2]).repeat(2).toArray(), [1, 2, 1, 2]);
    assert.deepEqual(a.index([L.tensor([1n, 0n]), L.tensor([2n, 2n])]).toArray(), [5, 2]);
    assert.deepEqual(a.index([null, L.tensor([0n])]).toArray(), [[0], [3]]);
  });
});

describe('nn functional ops', () => {
  test('conv2d against a hand-computed 3×3 box filter', () => {
    const x = L.arange(16, undefined, 1, { dtype: 'float64' }).reshape(1, 1, 4, 4);
    const w = L.ones([1, 1, 3, 3], { dtype: 'float64' });
    const y = F.conv2d(x, w, t([1]));
    // window sums of [[0..3],[4..7],[8..11]] etc.
    assert.deepEqual(y.toArray(), [
      [
        [
          [46, 55],
          [82, 91],
        ],
      ],
    ]);
    assert.deepEqual(F.conv2d(x, w, null, { padding: 1, stride: 2 }).shape, [1, 1, 2, 2]);
    const g = F.conv2d(L.ones([1, 4, 5, 5]), L.ones([4, 2, 3, 3]), null, { groups: 2, dilation: 2 });
    assert.deepEqual(g.shape, [1, 4, 1, 1]);
    assert.equal(g.flatten().toFlatArray()[0], 18);
  });
  test('batchNorm in training mode normalises and updates running stats', () => {
    const x = t([
      [1, 10],
      [3, 30],
    ]);
    const rm = L.zeros([2], { dtype: 'float64' });
    const rv = L.ones([2], { dtype: 'float64' });
    const y = F.batchNorm(x, rm, rv, { training: true, momentum: 0.1, eps: 0 });
    assertClose(y.toFlatArray(), [-1, -1, 1, 1], 1e-12);
    assertClose(rm.toFlatArray(), [0.2, 2], 1e-12);
    // unbiased batch variance: [2, 200]; 0.9·1 + 0.1·v
    assertClose(rv.toFlatArray(), [1.1, 20.9], 1e-12);
    const e = F.batchNorm(x, rm, rv, { training: false, eps: 0 });
    assertClose(e.toFlatArray(), [(1 - 0.2) / Math.sqrt(1.1), (10 - 2) / Math.sqrt(20.9), (3 - 0.2) / Math.sqrt(1.1), (30 - 2) / Math.sqrt(20.9)], 1e-12);
  });
  test('linear, pools, dropout, softmax, logSoftmax', () => {
    const x = t([[1, 2]]);
    assert.deepEqual(
      F.linear(
        x,
        t([
          [1, 1],
          [2, -1],
        ]),
        t([0.5, 0]),
      ).toArray(),
      [[3.5, 0]],
    );
    const img = L.arange(16, undefined, 1, { dtype: 'float64' }).reshape(1, 1, 4, 4);
    assert.deepEqual(F.maxPool2d(img, 2).toArray(), [
      [
        [
          [5, 7],
          [13, 15],
        ],
      ],
    ]);
    assert.deepEqual(F.avgPool2d(img, 2).toArray(), [
      [
        [
          [2.5, 4.5],
          [10.5, 12.5],
        ],
      ],
    ]);
    assert.deepEqual(F.adaptiveAvgPool2d(img, 1).toArray(), [[[[7.5]]]]);
    assert.deepEqual(F.dropout(x, 0.5, false).toArray(), [[1, 2]]);
    const d = F.dropout(L.ones([1000]), 0.5, true).toFlatArray();
    assert.ok(d.every((v) => v === 0 || v === 2));
    const s = F.softmax(t([[0, Math.log(3)]]), 1);
    assertClose(s.toFlatArray(), [0.25, 0.75], 1e-12);
    assertTensorClose(F.logSoftmax(t([[0, Math.log(3)]]), 1), [Math.log(0.25), Math.log(0.75)], 1e-12);
  });
  test('nllLoss, native crossEntropy and oneHot against hand computation', () => {
    const logits = t([
      [2, 0, 0],
      [0, 1, 3],
    ]);
    const target = L.tensor([0n, 2n]);
    const lse = (r: number[]) => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
    const l0 = lse([2, 0, 0]) - 2;
    const l1 = lse([0, 1, 3]) - 3;
    assertClose(F.crossEntropy(logits, target).item(), (l0 + l1) / 2, 1e-12);
    assertClose(F.nllLoss(F.logSoftmax(logits, 1), target, { reduction: 'sum' }).item(), l0 + l1, 1e-12);
    // label smoothing ε: (1-ε)·nll + ε·mean_c(-log p_c)
    const eps = 0.1;
    const smooth0 = (3 * lse([2, 0, 0]) - 2) / 3;
    const smooth1 = (3 * lse([0, 1, 3]) - 4) / 3;
    assertClose(
      F.crossEntropy(logits, target, { labelSmoothing: eps, reduction: 'none' }).toFlatArray(),
      [(1 - eps) * l0 + eps * smooth0, (1 - eps) * l1 + eps * smooth1],
      1e-12,
    );
    assertClose(F.crossEntropy(logits, L.tensor([0n, -100n])).item(), l0, 1e-12);
    assert.deepEqual(F.oneHot(L.tensor([0n, 2n]), 3).toArray(), [
      [1, 0, 0],
      [0, 0, 1],
    ]);
  });
  test('interpolate bilinear against hand computation, klDiv, mseLoss', () => {
    const x = t([
      [
        [
          [0, 1],
          [2, 3],
        ],
      ],
    ]);
    const up = F.interpolate(x, [3, 3], { alignCorners: true });
    assert.deepEqual(up.toArray(), [
      [
        [
          [0, 0.5, 1],
          [1, 1.5, 2],
          [2, 2.5, 3],
        ],
      ],
    ]);
    const p = t([[0.5, 0.5]]);
    const q = t([[0.25, 0.75]]);
    const kl = 0.25 * Math.log(0.25 / 0.5) + 0.75 * Math.log(0.75 / 0.5);
    assertClose(F.klDiv(p.log(), q, { reduction: 'batchmean' }).item(), kl, 1e-12);
    assertClose(F.mseLoss(t([1, 2]), t([2, 4])).item(), 2.5, 1e-12);
  });
  test('matrix products', () => {
    const m = t([
      [1, 2],
      [3, 4],
    ]);
    assert.deepEqual(m.mm(m).toArray(), [
      [7, 10],
      [15, 22],
    ]);
    assert.deepEqual(m.unsqueeze(0).bmm(m.unsqueeze(0)).toArray(), [
      [
        [7, 10],
        [15, 22],
      ],
    ]);
    assert.deepEqual(m.matmul(t([1, 1])).toArray(), [3, 7]);
  });
  test('autocast runs matmuls in bfloat16 and keeps float32 outside', () => {
    const a = L.randn([4, 4]);
    const inside = L.autocast({ dtype: 'bfloat16' }, () => a.mm(a));
    assert.equal(inside.dtype, 'bfloat16');
    assert.equal(a.mm(a).dtype, 'float32');
    assertTensorClose(inside.float(), a.mm(a), 5e-2);
  });
  test('noGrad turns recording off and restores it', () => {
    const w = L.ones([2], { requiresGrad: true });
    const y = L.noGrad(() => w.mul(2));
    assert.equal(y.requiresGrad, false);
    assert.equal(L.isGradEnabled(), true);
    assert.equal(w.mul(2).requiresGrad, true);
    assert.throws(
      () =>
        L.noGrad(() => {
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.equal(L.isGradEnabled(), true);
  });
});

describe('composite formulas agree with libtorch kernels (random float64 data)', () => {
  L.manualSeed(3);
  const x = L.randn([6, 5], { dtype: 'float64' });
  test('logSoftmax, logsumexp, softmax', () => {
    assertTensorClose(F.logSoftmax(x, 1), x.sub(x.exp().sum(1, true).log()), 1e-12);
    assertTensorClose(x.logsumexp(1), x.exp().sum(1).log(), 1e-12);
    assertTensorClose(F.softmax(x, 0), x.exp().div(x.exp().sum(0, true)), 1e-12);
  });
  test('label-smoothed crossEntropy equals (1-ε)·NLL + ε·mean(-log p)', () => {
    const y = L.tensor([0n, 4n, 2n, 1n, 3n, 3n]);
    const logp = F.logSoftmax(x, 1);
    const nll = logp.gather(1, y.unsqueeze(1)).squeeze(1).neg();
    const smooth = logp.mean(1).neg();
    assertTensorClose(F.crossEntropy(x, y, { labelSmoothing: 0.1, reduction: 'none' }), nll.mul(0.9).add(smooth.mul(0.1)), 1e-12);
  });
  test('linear, gelu, var, norm, batchNorm', () => {
    const w = L.randn([3, 5], { dtype: 'float64' });
    const b = L.randn([3], { dtype: 'float64' });
    assertTensorClose(F.linear(x, w, b), x.mm(w.t()).add(b), 1e-12);
    // gelu(x) = x/2·(1 + erf(x/√2))
    assertTensorClose(x.gelu(), x.mul(0.5).mul(x.div(Math.SQRT2).erf().add(1)), 1e-12);
    const mean = x.mean(0, true);
    assertTensorClose(x.var(0, false, 0), x.sub(mean).square().mean(0), 1e-12);
    assertTensorClose(x.norm(2, 1), x.square().sum(1).sqrt(), 1e-12);
    const bn = F.batchNorm(x, null, null, { training: true, eps: 1e-5 });
    assertTensorClose(bn, x.sub(mean).div(x.var(0, true, 0).add(1e-5).sqrt()), 1e-10);
  });
});

describe('one op table', () => {
  test('the Native interface, NATIVE_OPS, native/ops.inc and the generated Tensor methods are what native/ops.table makes', () => {
    const r = spawnSync(process.execPath, [join(distRoot, '..', 'scripts', 'gen-ops.mjs'), '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stderr}${r.stdout}`);
  });
  test('the addon exports exactly the ops Native declares (NATIVE_OPS, which the compiler checks against Native)', async () => {
    const { NATIVE_OPS, native } = await import('../src/engine/native.js');
    const exported = Object.keys(native).sort();
    const declared = [...NATIVE_OPS].sort();
    assert.deepEqual(
      exported.filter((k) => !declared.includes(k as never)),
      [],
      'exported by the addon but not declared',
    );
    assert.deepEqual(
      declared.filter((k) => !exported.includes(k)),
      [],
      'declared but not exported by the addon',
    );
  });
});
