// lsr's crossEntropy against libtorch's own cross_entropy_loss (PyTorch's numbers) over a
// randomized grid, the fused kernel's properties, and the errors for bad input.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { CrossEntropyLoss, type CrossEntropyOptions, F, type Tensor, crossEntropy } from '../src/index.js';
import { native } from '../src/engine/native.js';
import { assertTensorClose, gradcheck, values } from './helpers.js';

type DT = 'float32' | 'float64';
const TOL: Record<DT, number> = { float64: 1e-6, float32: 2e-5 };

/** Value and input gradient of loss(x), the output weighted by fixed random numbers for 'none'. */
function valueAndGrad(x: Tensor, loss: (x: Tensor) => Tensor): [Tensor, Tensor] {
  const out = loss(x);
  const weights = L.fromTypedArray(values(out.numel(), 5, 0.5, 1.5), out.shape, { dtype: out.dtype });
  out.mul(weights).sum().backward();
  const grad = x.grad!;
  x.grad = undefined;
  return [out, grad];
}

function compare(x: Tensor, y: Tensor, o: CrossEntropyOptions, dtype: DT, what: string): void {
  const ref = o.labelSmoothing === undefined || typeof o.labelSmoothing === 'number' ? o : {};
  const [expected, gExpected] = valueAndGrad(x, (v) => F.crossEntropy(v, y, ref as Parameters<typeof F.crossEntropy>[2]));
  const [actual, gActual] = valueAndGrad(x, (v) => crossEntropy(v, y, o));
  assertTensorClose(actual, expected, TOL[dtype], `${what} value`);
  assertTensorClose(gActual, gExpected, TOL[dtype], `${what} grad`);
}

/** A random grid case: input shape, class-index target with some ignored positions, options. */
function randomCase(k: number, dtype: DT) {
  const r = values(8, 1000 + k, 0, 1);
  const classes = 2 + Math.floor(r[0]! * 40);
  const shapes = [[classes], [1 + Math.floor(r[1]! * 9), classes], [1 + Math.floor(r[1]! * 4), classes, 1 + Math.floor(r[2]! * 5)], [2, classes, 3, 2]];
  const shape = shapes[Math.floor(r[3]! * shapes.length)]!;
  const ignoreIndex = r[4]! < 0.5 ? -100 : Math.floor(r[4]! * classes); // PyTorch allows a real class too
  const o: CrossEntropyOptions = {
    reduction: (['none', 'mean', 'sum'] as const)[Math.floor(r[5]! * 3)]!,
    labelSmoothing: [0, 0.1, 0.37, 1][Math.floor(r[6]! * 4)]!,
    ignoreIndex,
  };
  if (r[7]! < 0.5) o.weight = L.fromTypedArray(values(classes, 77 + k, 0.1, 2), [classes], { dtype });
  const x = L.fromTypedArray(
    values(
      shape.reduce((a, b) => a * b, 1),
      3 + k,
      -4,
      4,
    ),
    shape,
    { dtype },
  ).requiresGrad_();
  const targetShape = shape.filter((_, d) => d !== (shape.length === 1 ? 0 : 1));
  const raw = values(
    targetShape.reduce((a, b) => a * b, 1),
    11 + k,
    0,
    1,
  );
  const y = L.tensor(
    Array.from(raw, (v, i) => (i % 5 === 3 ? ignoreIndex : Math.floor(v * classes))),
    { dtype: 'int64' },
  ).view(...targetShape);
  return { x, y, o, what: `case ${k}: input [${shape}] ${JSON.stringify({ ...o, weight: !!o.weight })}` };
}

describe('crossEntropy equals PyTorch', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    test(`class-index targets, randomized grid of shapes, ε, weights, ignoreIndex and reductions (${dtype})`, () => {
      for (let k = 0; k < 120; k++) {
        L.tidy(() => {
          const { x, y, o, what } = randomCase(k, dtype);
          compare(x, y, o, dtype, what);
        });
      }
    });

    test(`probability targets with ε, weights and reductions (${dtype})`, () => {
      for (const shape of [[6, 7], [3, 4, 5], [4]]) {
        for (const eps of [0, 0.2, 1]) {
          for (const reduction of ['none', 'mean', 'sum'] as const) {
            for (const weighted of [false, true]) {
              L.tidy(() => {
                const classDim = shape.length === 1 ? 0 : 1;
                const x = L.fromTypedArray(
                  values(
                    shape.reduce((a, b) => a * b, 1),
                    9,
                    -3,
                    3,
                  ),
                  shape,
                  { dtype },
                ).requiresGrad_();
                const t = L.fromTypedArray(values(x.numel(), 10, 0, 1), shape, { dtype }).softmax(classDim);
                const weight = weighted ? L.fromTypedArray(values(shape[classDim]!, 12, 0.2, 2), [shape[classDim]!], { dtype }) : undefined;
                compare(x, t, { labelSmoothing: eps, reduction, weight }, dtype, `[${shape}] ε=${eps} ${reduction} weighted=${weighted}`);
              });
            }
          }
        }
      }
    });
  }

  test('an all-ignored batch: mean is NaN, sum is 0, gradients are 0 (as PyTorch)', () => {
    L.tidy(() => {
      const x = L.randn([3, 4], { dtype: 'float64' }).requiresGrad_();
      const y = L.tensor([-100, -100, -100], { dtype: 'int64' });
      for (const weight of [undefined, L.ones([4], { dtype: 'float64' })]) {
        const mean = crossEntropy(x, y, { labelSmoothing: 0.1, weight });
        assert.ok(Number.isNaN(mean.item()));
        assert.ok(Number.isNaN(F.crossEntropy(x, y, { labelSmoothing: 0.1, weight }).item()));
        mean.backward();
        assert.deepEqual(x.grad!.toFlatArray(), new Array(12).fill(0));
        x.grad = undefined;
        assert.equal(crossEntropy(x, y, { labelSmoothing: 0.1, reduction: 'sum', weight }).item(), 0);
      }
    });
  });

  test('-Inf logits (masked classes) give what PyTorch gives: finite without smoothing, +Inf with it', () => {
    L.tidy(() => {
      const x = L.tensor(
        [
          [1, -Infinity, 0.5],
          [0.2, 0.1, -Infinity],
        ],
        { dtype: 'float64' },
      );
      const y = L.tensor([0, 1], { dtype: 'int64' });
      assertTensorClose(crossEntropy(x, y), F.crossEntropy(x, y), 1e-12);
      assert.equal(crossEntropy(x, y, { labelSmoothing: 0.1 }).item(), Infinity);
      assert.equal(F.crossEntropy(x, y, { labelSmoothing: 0.1 }).item(), Infinity);
    });
  });

  test('non-contiguous logits, int32 targets and the module form give the same numbers', () => {
    L.tidy(() => {
      const base = L.randn([7, 5], { dtype: 'float64' });
      const x = base.t(); // [5, 7], not contiguous
      const y = L.tensor([0, 6, 3, 3, 1], { dtype: 'int64' });
      const expected = F.crossEntropy(x, y, { labelSmoothing: 0.2 });
      assertTensorClose(crossEntropy(x, y, { labelSmoothing: 0.2 }), expected, 1e-12);
      assertTensorClose(crossEntropy(x, y.to('int32'), { labelSmoothing: 0.2 }), expected, 1e-12);
      assertTensorClose(new CrossEntropyLoss({ labelSmoothing: 0.2 }).forward(x, y), expected, 1e-12);
    });
  });
});

describe('the fused kernel', () => {
  test('is what crossEntropy runs for class-index float32/float64 targets on the CPU', () => {
    L.tidy(() => {
      const x = L.randn([4, 3]).requiresGrad_();
      const fused = crossEntropy(x, L.tensor([0, 1, 2, 0], { dtype: 'int64' }), { labelSmoothing: 0.1 });
      assert.match(fused.gradFn ?? '', /LabelSmoothedCrossEntropy/);
      const soft = crossEntropy(x, L.randn([4, 3]).softmax(1));
      assert.doesNotMatch(soft.gradFn ?? '', /LabelSmoothedCrossEntropy/);
    });
  });

  test('float32 with many classes and large logits stays within float32 rounding of a float64 reference', () => {
    L.tidy(() => {
      // 3001 classes: not a multiple of the vector width, so the tail loop is exercised too.
      const x64 = L.fromTypedArray(values(8 * 3001, 4, -60, 60), [8, 3001], { dtype: 'float64' });
      const y = L.tensor([0, 3000, 17, 1500, 2999, 1, 2, 3], { dtype: 'int64' });
      const x32 = x64.to('float32').requiresGrad_();
      const [value, grad] = valueAndGrad(x32, (v) => crossEntropy(v, y, { labelSmoothing: 0.1, reduction: 'none' }));
      const ref64 = x64.to('float32').to('float64').requiresGrad_();
      const [refValue, refGrad] = valueAndGrad(ref64, (v) => F.crossEntropy(v, y, { labelSmoothing: 0.1, reduction: 'none' }));
      assertTensorClose(value.to('float64'), refValue, 1e-6, 'value');
      assertTensorClose(grad.to('float64'), refGrad, 1e-6, 'grad');
    });
  });

  test('its gradient matches finite differences (weights, an ignored position, (N, C, d) input)', () => {
    const y = L.tensor(
      [
        [0, 2, -100],
        [1, 1, 0],
      ],
      { dtype: 'int64' },
    );
    const weight = L.tensor([0.5, 2, 1], { dtype: 'float64' });
    for (const reduction of ['none', 'mean', 'sum'] as const)
      gradcheck(`fused ${reduction}`, (x) => crossEntropy(x!, y, { weight, labelSmoothing: 0.3, reduction }), [{ shape: [2, 3, 3], lo: -3, hi: 3 }]);
  });

  test('gives the same bits whatever the thread count', () => {
    const before = L.getNumThreads();
    try {
      const run = (threads: number) =>
        L.tidy(() => {
          L.setNumThreads(threads);
          const x = L.fromTypedArray(values(512 * 300, 8, -5, 5), [512, 300], { dtype: 'float32' }).requiresGrad_();
          const y = L.tensor(Array.from(values(512, 9, 0, 300), Math.floor), { dtype: 'int64' });
          const [loss, grad] = valueAndGrad(x, (v) => crossEntropy(v, y, { labelSmoothing: 0.1 }));
          return [loss.item(), grad.sum().item()];
        });
      assert.deepEqual(run(1), run(Math.max(2, before)));
    } finally {
      L.setNumThreads(before);
    }
  });

  test('under backward({ createGraph: true }) its gradient has a graph: a gradient penalty equals the composite formula', () => {
    // A small linear model; the penalty ‖∂L/∂x‖² differentiated w.r.t. the weights needs the
    // loss's second derivative (issue 17, item 7): the fused backward alone gave a gradient with
    // no graph, and the penalty silently lost the cross-entropy's curvature.
    const classes = 4;
    const composite = (logits: Tensor, y: Tensor, o: { weight?: Tensor; ignoreIndex: number; labelSmoothing: number; reduction: 'mean' | 'sum' | 'none' }) => {
      // (1 − ε)·w_y·(−log p_y) + (ε/C)·Σ_c w_c·(−log p_c), 0 where ignored; 'mean' over Σ w_y.
      const kept = y.ne(o.ignoreIndex);
      const safe = y.maskedFill(kept.logicalNot(), 0);
      const w = o.weight ?? L.ones([classes], { dtype: 'float64' });
      const classShape = logits.shape.map((n, d) => (d === 1 ? n : 1));
      const logp = F.logSoftmax(logits, 1);
      const nll = logp.gather(1, safe.unsqueeze(1)).squeeze(1).neg();
      const smooth = logp
        .mul(w.view(...classShape))
        .sum(1)
        .neg();
      const wy = w
        .gather(0, safe.flatten())
        .view(...safe.shape)
        .mul(kept);
      const loss = wy
        .mul(nll)
        .mul(1 - o.labelSmoothing)
        .add(smooth.mul(o.labelSmoothing / classes).mul(kept));
      if (o.reduction === 'none') return loss;
      return o.reduction === 'sum' ? loss.sum() : loss.sum().div(wy.sum());
    };
    const cases = [
      {
        shape: [6, classes],
        y: [0, 3, -100, 2, 1, 3],
        o: { weight: L.tensor([0.5, 2, 1, 1.5], { dtype: 'float64' }), ignoreIndex: -100, labelSmoothing: 0.1, reduction: 'mean' as const },
      },
      { shape: [6, classes], y: [1, 1, 0, 2, 3, 0], o: { ignoreIndex: -100, labelSmoothing: 0, reduction: 'sum' as const } },
      // (N, C, d) logits that are not contiguous, one output per position weighted.
      { shape: [3, classes, 2], y: [0, 2, 3, -100, 1, 1], o: { ignoreIndex: -100, labelSmoothing: 0.37, reduction: 'none' as const } },
    ];
    for (const [k, c] of cases.entries())
      L.tidy(() => {
        const rows = c.shape[0]! * (c.shape[2] ?? 1);
        const W = L.fromTypedArray(values(classes * 5, 20 + k, -1, 1), [classes, 5], { dtype: 'float64' }).requiresGrad_();
        const b = L.fromTypedArray(values(classes, 30 + k, -1, 1), [classes], { dtype: 'float64' }).requiresGrad_();
        const x = L.fromTypedArray(values(rows * 5, 40 + k, -2, 2), [rows, 5], { dtype: 'float64' }).requiresGrad_();
        const y = L.tensor(c.y, { dtype: 'int64' }).view(...c.shape.filter((_, d) => d !== 1));
        const outWeights = L.fromTypedArray(values(rows, 50 + k, 0.5, 1.5), y.shape, { dtype: 'float64' });
        const penalty = (loss: (logits: Tensor) => Tensor) => {
          let logits = x.mm(W.t()).add(b);
          if (c.shape.length === 3) logits = logits.view(c.shape[0]!, c.shape[2]!, classes).permute(0, 2, 1);
          const out = loss(logits);
          (c.o.reduction === 'none' ? out.mul(outWeights).sum() : out).backward(undefined, { createGraph: true });
          const gx = x.grad!;
          W.grad = undefined;
          b.grad = undefined;
          x.grad = undefined;
          gx.pow(2).sum().backward();
          const grads = [gx.detach(), W.grad!, b.grad!];
          W.grad = undefined;
          b.grad = undefined;
          x.grad = undefined;
          return grads;
        };
        const fused = penalty((logits) => {
          const out = crossEntropy(logits, y, c.o);
          assert.match(out.gradFn ?? '', /LabelSmoothedCrossEntropy/);
          return out;
        });
        const expected = penalty((logits) => composite(logits, y, c.o));
        assertTensorClose(fused[0]!, expected[0]!, 1e-10, `case ${k}: ∂L/∂x`);
        assertTensorClose(fused[1]!, expected[1]!, 1e-10, `case ${k}: ∂‖∂L/∂x‖²/∂W`);
        assertTensorClose(fused[2]!, expected[2]!, 1e-10, `case ${k}: ∂‖∂L/∂x‖²/∂b`);
        // The bias reaches the penalty only through the loss's curvature: without a double
        // backward its gradient would be 0.
        assert.ok(expected[2]!.abs().max().item() > 1e-3, `case ${k}: the check is not vacuous`);
      });
  });

  test('keeps no N×C tensor but the input for backward', () => {
    L.tidy(() => {
      const x = L.randn([64, 1000]).requiresGrad_();
      const y = L.randint(0, 1000, [64]);
      const live = L.memoryStats().bytes;
      const loss = crossEntropy(x, y, { labelSmoothing: 0.1 });
      // Saved: the input (shared, not copied), the target and one log-sum-exp per row.
      assert.ok(L.memoryStats().bytes - live < 64 * 1000 * 4, `${L.memoryStats().bytes - live} bytes held`);
      loss.backward();
    });
  });
});

describe('crossEntropy rejects bad input with the argument and shapes', () => {
  const x = L.randn([2, 3]);
  const y = L.tensor([0, 2], { dtype: 'int64' });
  const cases: Array<[string, () => unknown, RegExp]> = [
    [
      'class out of range',
      () => crossEntropy(x, L.tensor([0, 3], { dtype: 'int64' })),
      /target\[1\] = 3 is not a class index in \[0, 3\) nor ignoreIndex \(-100\)/,
    ],
    [
      'negative class',
      () => crossEntropy(x, L.tensor([-1, 0], { dtype: 'int64' }), { labelSmoothing: L.tensor([0.1, 0.1, 0.1]) }),
      /target\[0\] = -1 is not a class index/,
    ],
    [
      'float targets of the index shape',
      () => crossEntropy(x, L.tensor([0, 2], { dtype: 'float32' })),
      /target has dtype float32: probabilities must have the input's shape \[2,3\]; class indices must be an integer tensor of shape \[2\] \(a number array makes float32: tensor\(labels, \{ dtype: 'int64' \}\), or bigints\) \(input \[2,3\], target \[2\]\)/,
    ],
    [
      'target shape',
      () => crossEntropy(x, L.tensor([0, 1, 2], { dtype: 'int64' })),
      /class-index target must have shape \[2\] for this input \(input \[2,3\], target \[3\]\)/,
    ],
    ['empty batch', () => crossEntropy(L.randn([0, 3]), L.tensor([], { dtype: 'int64' })), /empty batch: the input has no logits \(input \[0,3\]/],
    [
      'NaN logit',
      () =>
        crossEntropy(
          L.tensor([
            [0, 1, 2],
            [0, NaN, 1],
          ]),
          y,
        ),
      /input at position \[1\] has NaN or \+Inf logits, or all -Inf/,
    ],
    [
      '+Inf logit',
      () =>
        crossEntropy(
          L.tensor([
            [0, Infinity, 2],
            [0, 0, 1],
          ]),
          y,
          { labelSmoothing: L.tensor([0, 0, 0]) },
        ),
      /input at position \[0\] has NaN or \+Inf logits/,
    ],
    [
      'row all -Inf',
      () =>
        crossEntropy(
          L.tensor([
            [0, 1, 2],
            [-Infinity, -Infinity, -Infinity],
          ]),
          y,
        ),
      /input at position \[1\]/,
    ],
    ['ε above 1', () => crossEntropy(x, y, { labelSmoothing: 1.5 }), /labelSmoothing must be in \[0, 1\], got 1.5/],
    ['ε negative', () => crossEntropy(x, y, { labelSmoothing: -0.1 }), /labelSmoothing must be in \[0, 1\], got -0.1/],
    ['ε per class of wrong size', () => crossEntropy(x, y, { labelSmoothing: L.tensor([0.1, 0.1]) }), /one ε per class \(3\), got shape \[2\]/],
    ['weight of wrong size', () => crossEntropy(x, y, { weight: L.ones([4]) }), /weight must have one value per class \(3\), got shape \[4\]/],
    ['unknown reduction', () => crossEntropy(x, y, { reduction: 'avg' as 'mean' }), /reduction 'avg' is not one of none, mean, sum/],
    [
      'integer logits',
      () => crossEntropy(L.tensor([[1, 2]], { dtype: 'int64' }), L.tensor([0], { dtype: 'int64' })),
      /input must hold floating-point logits, got int64/,
    ],
    ['boolean target', () => crossEntropy(x, L.tensor([true, false])), /target must be int64 class indices or floating-point probabilities, got bool/],
    ['0-d input', () => crossEntropy(L.tensor(1.5), y), /input must have a class dimension/],
  ];
  for (const [name, run, message] of cases) test(name, () => assert.throws(run, message));

  test('an ignored position may hold any value, even a NaN row', () => {
    L.tidy(() => {
      const loss = crossEntropy(
        L.tensor([
          [0, 1, 2],
          [NaN, 0, 0],
        ]),
        L.tensor([2, -100], { dtype: 'int64' }),
        { labelSmoothing: 0.1 },
      );
      assert.ok(Number.isFinite(loss.item()));
    });
  });
});

describe('the fused kernel reads CPU tensors only (issue 16)', () => {
  // A "meta" tensor has a shape and no memory: it stands here for a tensor on another device.
  const elsewhere = (t: Tensor) => new L.Tensor(native.to_device(t.handle, 'meta', false, false));
  test('a target or weight on another device is refused before its memory is read, naming each device', () => {
    const logits = L.randn([4, 3]);
    const target = L.tensor([0, 1, 2, 0], { dtype: 'int64' });
    const weight = L.ones([3]);
    const farTarget = elsewhere(target);
    const farWeight = elsewhere(weight);
    assert.throws(
      () => F.labelSmoothedCrossEntropy(logits, farTarget),
      /the fused cross-entropy is a CPU kernel: input on cpu, target on meta \(crossEntropy routes/,
    );
    assert.throws(
      () => F.labelSmoothedCrossEntropy(logits, target, { weight: farWeight }),
      /the fused cross-entropy is a CPU kernel: input on cpu, target on cpu, weight on meta/,
    );
    // crossEntropy takes libtorch's kernel for them, whose own device check speaks.
    assert.throws(
      () => crossEntropy(logits, farTarget, { labelSmoothing: 0.1 }),
      (e: Error) => !/CPU kernel/.test(e.message),
    );
    for (const t of [logits, target, weight, farTarget, farWeight]) t.dispose();
  });

  test('off the CPU, crossEntropy builds no mask of ignored positions (its finiteness check is CPU-only: on a GPU it would be a kernel a step for nothing)', () => {
    const logits = elsewhere(L.randn([4, 3]));
    const target = elsewhere(L.tensor([0, 1, 2, 0], { dtype: 'int64' }));
    const ne = L.Tensor.prototype.ne;
    let masks = 0;
    L.Tensor.prototype.ne = function (this: Tensor, other: Parameters<typeof ne>[0]) {
      masks++;
      return ne.call(this, other);
    };
    try {
      // (libtorch 1.13's smoothed kernel uses masked_select, which meta tensors lack: ε = 0 here.)
      const loss = crossEntropy(logits, target);
      assert.equal(loss.device, 'meta');
      loss.dispose();
    } finally {
      L.Tensor.prototype.ne = ne;
    }
    assert.equal(masks, 0);
    // On the CPU the mask is built, for the check that reads it (a row of NaN logits that is not ignored).
    assert.throws(
      () => crossEntropy(L.tensor([[Number.NaN, 0, 0]], { dtype: 'bfloat16' }), L.tensor([1], { dtype: 'int64' })),
      /input at position \[0\] has NaN or \+Inf logits/,
    );
    for (const t of [logits, target]) t.dispose();
  });
});
