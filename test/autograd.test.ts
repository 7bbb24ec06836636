// Gradients against central finite differences in float64, for every differentiable op that the
// losses and models use.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { F, type Tensor } from '../src/index.js';
import { gradcheck, values } from './helpers.js';

const labels = (v: number[]) => L.tensor(v, { dtype: 'int64' });
const positive = { lo: 0.2, hi: 2 };

describe('autograd matches finite differences (float64)', () => {
  test('elementwise binary ops with broadcasting', () => {
    gradcheck('add', (a, b) => a!.add(b!, 0.7), [{ shape: [2, 3] }, { shape: [3] }]);
    gradcheck('sub', (a, b) => a!.sub(b!), [{ shape: [2, 3] }, { shape: [2, 1] }]);
    gradcheck('mul', (a, b) => a!.mul(b!), [{ shape: [2, 3] }, { shape: [3] }]);
    gradcheck('div', (a, b) => a!.div(b!), [{ shape: [2, 3] }, { shape: [3], ...positive }]);
    gradcheck('pow tensor', (a, b) => a!.pow(b!), [{ shape: [4], ...positive }, { shape: [4] }]);
    gradcheck('pow scalar', (a) => a!.pow(3), [{ shape: [4] }]);
    gradcheck('maximum', (a, b) => a!.maximum(b!), [{ shape: [5] }, { shape: [5], data: values(5, 5, -1, 1).map((v) => v + 0.05) }]);
    gradcheck('minimum', (a, b) => a!.minimum(b!), [{ shape: [5] }, { shape: [5], data: values(5, 5, -1, 1).map((v) => v + 0.05) }]);
    gradcheck('where', (a, b) => L.where(a!.gt(0), a!, b!), [{ shape: [6] }, { shape: [6] }]);
  });

  test('elementwise unary ops', () => {
    const ops: Array<[string, (x: Tensor) => Tensor, { lo: number; hi: number } | undefined]> = [
      ['neg', (x) => x.neg(), undefined],
      ['exp', (x) => x.exp(), undefined],
      ['log', (x) => x.log(), positive],
      ['log1p', (x) => x.log1p(), positive],
      ['sqrt', (x) => x.sqrt(), positive],
      ['rsqrt', (x) => x.rsqrt(), positive],
      ['abs', (x) => x.abs(), undefined],
      ['sigmoid', (x) => x.sigmoid(), undefined],
      ['tanh', (x) => x.tanh(), undefined],
      ['relu', (x) => x.relu(), undefined],
      ['gelu', (x) => x.gelu(), undefined],
      ['gelu tanh', (x) => x.gelu('tanh'), undefined],
      ['clamp', (x) => x.clamp(-0.5, 0.5), undefined],
      ['square', (x) => x.square(), undefined],
    ];
    for (const [name, fn, range] of ops) gradcheck(name, fn, [{ shape: [7], ...(range ?? {}) }]);
  });

  test('reductions', () => {
    gradcheck('sum', (a) => a!.sum(), [{ shape: [2, 3] }]);
    gradcheck('sum dim', (a) => a!.sum(1, true), [{ shape: [2, 3] }]);
    gradcheck('mean', (a) => a!.mean([0, 2]), [{ shape: [2, 3, 2] }]);
    gradcheck('max dim', (a) => a!.max(1)[0], [{ shape: [3, 4] }]);
    gradcheck('amax', (a) => a!.amax(0), [{ shape: [3, 4] }]);
    gradcheck('logsumexp', (a) => a!.logsumexp(1), [{ shape: [3, 4] }]);
    gradcheck('var', (a) => a!.var(1), [{ shape: [3, 4] }]);
    gradcheck('std', (a) => a!.std(0, false, 0), [{ shape: [3, 4] }]);
    gradcheck('norm', (a) => a!.norm(2, 1), [{ shape: [3, 4] }]);
    gradcheck('cumsum', (a) => a!.cumsum(1), [{ shape: [2, 4] }]);
    gradcheck('topk', (a) => a!.topk(2, 1)[0], [{ shape: [2, 5] }]);
  });

  test('shape and indexing ops', () => {
    gradcheck('reshape+permute', (a) => a!.reshape(3, 2, 2).permute(2, 0, 1), [{ shape: [12] }]);
    gradcheck('transpose+flatten', (a) => a!.transpose(0, 1).flatten(), [{ shape: [3, 4] }]);
    gradcheck('expand', (a) => a!.unsqueeze(0).expand(3, 4), [{ shape: [4] }]);
    gradcheck('cat', (a, b) => L.cat([a!, b!], 1), [{ shape: [2, 2] }, { shape: [2, 3] }]);
    gradcheck('stack', (a, b) => L.stack([a!, b!]), [{ shape: [3] }, { shape: [3] }]);
    gradcheck('narrow', (a) => a!.narrow(1, 1, 2), [{ shape: [2, 4] }]);
    gradcheck('split', (a) => a!.split(2, 1)[1]!, [{ shape: [2, 4] }]);
    gradcheck('gather', (a) => a!.gather(1, labels([0, 2, 1]).unsqueeze(1)), [{ shape: [3, 4] }]);
    gradcheck('indexSelect', (a) => a!.indexSelect(0, labels([2, 0, 2])), [{ shape: [3, 2] }]);
    gradcheck('scatterAdd', (a, s) => a!.scatterAdd(1, labels([0, 0, 3, 1, 2, 2]).reshape(2, 3), s!), [{ shape: [2, 4] }, { shape: [2, 3] }]);
    gradcheck('maskedFill', (a) => a!.maskedFill(L.tensor([true, false, true, false]), 0), [{ shape: [4] }]);
    gradcheck('flip', (a) => a!.flip(0), [{ shape: [4] }]);
    gradcheck('repeat', (a) => a!.repeat(2, 1), [{ shape: [3] }]);
  });

  test('matrix products', () => {
    gradcheck('mm', (a, b) => a!.mm(b!), [{ shape: [2, 3] }, { shape: [3, 2] }]);
    gradcheck('bmm', (a, b) => a!.bmm(b!), [{ shape: [2, 2, 3] }, { shape: [2, 3, 2] }]);
    gradcheck('matmul', (a, b) => a!.matmul(b!), [{ shape: [3, 4] }, { shape: [4] }]);
  });

  test('network layers', () => {
    gradcheck('conv2d', (x, w, b) => F.conv2d(x!, w!, b!, { padding: 1, stride: 2 }), [{ shape: [2, 2, 5, 5] }, { shape: [3, 2, 3, 3] }, { shape: [3] }]);
    gradcheck('conv2d groups dilation', (x, w) => F.conv2d(x!, w!, null, { groups: 2, dilation: 2 }), [{ shape: [1, 4, 5, 5] }, { shape: [4, 2, 2, 2] }]);
    gradcheck('linear', (x, w, b) => F.linear(x!, w!, b!), [{ shape: [3, 4] }, { shape: [2, 4] }, { shape: [2] }]);
    gradcheck(
      'batchNorm train',
      (x, w, b) => F.batchNorm(x!, L.zeros([3], { dtype: 'float64' }), L.ones([3], { dtype: 'float64' }), { weight: w!, bias: b!, training: true }),
      [{ shape: [4, 3, 2, 2] }, { shape: [3] }, { shape: [3] }],
    );
    gradcheck(
      'batchNorm eval',
      (x, w, b) => F.batchNorm(x!, L.full([3], 0.1, { dtype: 'float64' }), L.full([3], 2, { dtype: 'float64' }), { weight: w!, bias: b!, training: false }),
      [{ shape: [2, 3, 2, 2] }, { shape: [3] }, { shape: [3] }],
    );
    gradcheck('maxPool2d', (x) => F.maxPool2d(x!, 2), [{ shape: [1, 2, 4, 4] }]);
    gradcheck('maxPool2d 3/2/1', (x) => F.maxPool2d(x!, 3, { stride: 2, padding: 1 }), [{ shape: [1, 1, 5, 5] }]);
    gradcheck('avgPool2d', (x) => F.avgPool2d(x!, 2), [{ shape: [1, 2, 4, 4] }]);
    gradcheck('adaptiveAvgPool2d', (x) => F.adaptiveAvgPool2d(x!, 1), [{ shape: [2, 3, 3, 3] }]);
    gradcheck('interpolate', (x) => F.interpolate(x!, [5, 4]), [{ shape: [1, 1, 3, 3] }]);
  });

  test('softmax family and losses', () => {
    gradcheck('softmax', (x) => F.softmax(x!, 1), [{ shape: [3, 4] }]);
    gradcheck('logSoftmax', (x) => F.logSoftmax(x!, 1), [{ shape: [3, 4] }]);
    gradcheck('nllLoss', (x) => F.nllLoss(F.logSoftmax(x!, 1), labels([0, 3, 1])), [{ shape: [3, 4] }]);
    gradcheck('crossEntropy smoothing', (x) => F.crossEntropy(x!, labels([0, 3, 1]), { labelSmoothing: 0.1 }), [{ shape: [3, 4] }]);
    gradcheck(
      'crossEntropy weight ignore',
      (x) => F.crossEntropy(x!, labels([0, -100, 1]), { weight: L.tensor([0.5, 2, 1, 1.5], { dtype: 'float64' }), labelSmoothing: 0.2 }),
      [{ shape: [3, 4] }],
    );
    gradcheck(
      'crossEntropy probabilities',
      (x) =>
        F.crossEntropy(
          x!,
          L.tensor(
            [
              [0.2, 0.8],
              [0.5, 0.5],
            ],
            { dtype: 'float64' },
          ),
        ),
      [{ shape: [2, 2] }],
    );
    gradcheck('klDiv', (x, t) => F.klDiv(F.logSoftmax(x!, 1), F.softmax(t!, 1), { reduction: 'batchmean' }), [{ shape: [2, 3] }, { shape: [2, 3] }]);
  });

  test('backward with an explicit gradient, retained graphs and accumulation', () => {
    const x = L.tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const y = x.mul(x);
    y.backward(L.tensor([1, 0.5, 0], { dtype: 'float64' }), { retainGraph: true });
    assert.deepEqual(x.grad!.toArray(), [2, 2, 0]);
    y.backward(L.tensor([1, 1, 1], { dtype: 'float64' }));
    assert.deepEqual(x.grad!.toArray(), [4, 6, 6]);
    x.grad = undefined;
    assert.equal(x.grad, undefined);
    assert.equal(x.isLeaf, true);
    assert.equal(y.isLeaf, false);
    assert.match(y.gradFn ?? '', /Mul/);
  });
});
