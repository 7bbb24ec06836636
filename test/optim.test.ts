// Optimizers, schedules and clipping against trajectories PyTorch recorded (test/fixtures/optim.json).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { type Tensor, optim } from '../src/index.js';
import { assertClose, fixtures, values } from './helpers.js';

interface Fixture {
  start: number[];
  w: number[];
  trajectories: Record<string, { options: Record<string, number | boolean | number[]>; after: number[][] }>;
  schedules: Record<string, Array<[number, number]>>;
  clip: { total: number; a: number[]; b: number[][] };
}
const fx = JSON.parse(readFileSync(join(fixtures, 'optim.json'), 'utf8')) as Fixture;

type Options = Record<string, number | boolean | number[]>;
type Make = (params: Tensor[], o: Options) => optim.Optimizer<{ lr: number }>;
const camel = (o: Options) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/_(\w)/g, (_, c: string) => c.toUpperCase()), v]));
const makers: Record<string, Make> = {
  sgd: (p, o) => new optim.SGD(p, camel(o) as { lr: number }),
  sgd_momentum_dampening: (p, o) => new optim.SGD(p, camel(o) as { lr: number }),
  sgd_nesterov: (p, o) => new optim.SGD(p, camel(o) as { lr: number }),
  adam: (p, o) => new optim.Adam(p, camel(o)),
  adam_amsgrad: (p, o) => new optim.Adam(p, camel(o)),
  adamw: (p, o) => new optim.AdamW(p, camel(o)),
  rmsprop: (p, o) => new optim.RMSprop(p, camel(o)),
  rmsprop_centered_momentum: (p, o) => new optim.RMSprop(p, camel(o)),
};

function trajectory(opt: optim.Optimizer<{ lr: number }>, p: Tensor, steps: number): number[][] {
  const w = L.tensor(fx.w);
  const out: number[][] = [];
  for (let i = 0; i < steps; i++) {
    opt.zeroGrad();
    L.tidy(() => w.mul(p).mul(p).sum().backward());
    opt.step();
    out.push(p.toFlatArray());
  }
  w.dispose();
  return out;
}

describe('optimizers follow PyTorch step for step', () => {
  for (const [name, { options, after }] of Object.entries(fx.trajectories))
    for (const foreach of [true, false])
      test(`${name}${foreach ? '' : ' (foreach: false)'}`, () => {
        const p = L.tensor(fx.start).requiresGrad_();
        const opt = makers[name]!([p], { ...options, foreach });
        assert.equal(opt.foreach, foreach);
        const got = trajectory(opt, p, after.length);
        for (const [i, row] of got.entries()) assertClose(row, after[i]!, 1e-6, `${name} step ${i + 1}`);
        opt.dispose();
      });

  test('a state dict restores the run: two steps, save, load into a new optimizer, two more', () => {
    const ref = fx.trajectories.adam!;
    const p = L.tensor(fx.start).requiresGrad_();
    const a = makers.adam!([p], ref.options);
    trajectory(a, p, 2);
    const saved = a.stateDict();
    const b = makers.adam!([p], ref.options);
    b.loadStateDict(saved);
    const rest = trajectory(b, p, 2);
    for (const [i, row] of rest.entries()) assertClose(row, ref.after[i + 2]!, 1e-6, `step ${i + 3}`);
    assert.throws(() => makers.adam!([p, L.zeros([1]).requiresGrad_()], ref.options).loadStateDict(saved), /group 0 has 1 parameters, this optimizer's has 2/);
  });

  test('parameter groups keep their own options (no decay on biases, a lower backbone rate)', () => {
    const backbone = L.ones([2]).requiresGrad_();
    const bias = L.ones([2]).requiresGrad_();
    const sgd = new optim.SGD(
      [
        { params: [backbone], lr: 0.01 },
        { params: [bias], weightDecay: 0 },
      ],
      { lr: 0.1, weightDecay: 0.5 },
    );
    L.tidy(() => backbone.sum().add(bias.sum()).backward());
    sgd.step();
    assertClose(backbone.toFlatArray(), [1 - 0.01 * (1 + 0.5), 1 - 0.01 * (1 + 0.5)], 1e-7);
    assertClose(bias.toFlatArray(), [1 - 0.1, 1 - 0.1], 1e-7);
    assert.throws(() => new optim.SGD([{ params: [bias] }, { params: [bias] }], { lr: 0.1 }), /appears in more than one group/);
    assert.throws(() => new optim.SGD([bias], { lr: -1 }), /invalid learning rate -1 in parameter group 0/);
    assert.throws(() => new optim.Adam([bias], { betas: [1, 0.9] }), /invalid beta parameter at index 0: 1/);
  });
});

// The multi-tensor path (native/optim.cc) against the per-parameter one: the same bits, always.
describe('foreach (multi-tensor) steps give the bits of the per-parameter steps', () => {
  const variants: Record<string, [keyof typeof makers, Options]> = {
    sgd: ['sgd', { lr: 0.1 }],
    sgd_momentum_dampening: ['sgd', { lr: 0.1, momentum: 0.9, dampening: 0.3 }],
    sgd_nesterov: ['sgd', { lr: 0.1, momentum: 0.9, nesterov: true }],
    sgd_weight_decay: ['sgd', { lr: 0.1, momentum: 0.8, weight_decay: 0.05 }],
    sgd_nesterov_weight_decay: ['sgd', { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-3 }],
    adam: ['adam', { lr: 0.01 }],
    adam_weight_decay: ['adam', { lr: 0.01, weight_decay: 0.1 }],
    adam_amsgrad: ['adam', { lr: 0.01, betas: [0.8, 0.9], amsgrad: true }],
    adamw: ['adamw', { lr: 0.01, weight_decay: 0.1 }],
    adamw_amsgrad: ['adamw', { lr: 0.01, amsgrad: true }],
    rmsprop: ['rmsprop', { lr: 0.01 }],
    rmsprop_centered_momentum_weight_decay: ['rmsprop', { lr: 0.01, alpha: 0.9, centered: true, momentum: 0.5, weight_decay: 0.1 }],
    rmsprop_momentum: ['rmsprop', { lr: 0.01, momentum: 0.9 }],
  };
  // 257×256 is over the 256 KiB of parameters native/optim.cc updates at a time on the CPU: the
  // group is split in two there, which must not change a bit either.
  const shapes = [[3, 4], [5], [257, 256], [2, 3, 2, 2], [1], []];
  const makeParams = (dtypes: L.DType[]) =>
    shapes.map((shape, i) =>
      L.fromTypedArray(
        values(
          shape.reduce((a, b) => a * b, 1),
          100 + i,
        ),
        shape,
        { dtype: dtypes[i % dtypes.length] },
      ).requiresGrad_(),
    );
  /** Sets a pseudo-random gradient on each parameter; `skip(step, i)` leaves parameter i without one. */
  function setGrads(params: Tensor[], step: number, skip?: (step: number, i: number) => boolean): void {
    for (const [i, p] of params.entries())
      L.tidy(() => {
        p.grad = skip?.(step, i) ? undefined : L.fromTypedArray(values(p.numel(), 1000 * step + i, -3, 3), p.shape, { dtype: p.dtype });
      });
  }
  /** Every parameter's bytes and every state value: what must be bit-identical. */
  function snapshot(params: Tensor[], opt: optim.Optimizer<{ lr: number }>): unknown {
    const sd = opt.stateDict();
    const state = [...sd.state].map(([i, s]) => [
      i,
      Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? v : Buffer.from(v.bytes()).toString('hex')])),
    ]);
    for (const s of sd.state.values()) L.dispose(s);
    return { params: params.map((p) => Buffer.from(p.bytes()).toString('hex')), state };
  }
  function run(name: keyof typeof makers, o: Options, foreach: boolean, dtypes: L.DType[], steps = 5, skip?: (step: number, i: number) => boolean) {
    const params = makeParams(dtypes);
    const opt = makers[name]!(params, { ...o, foreach });
    for (let step = 0; step < steps; step++) {
      setGrads(params, step, skip);
      const grads = L.tidy(() => params.map((p) => (p.grad ? Buffer.from(p.grad.bytes()).toString('hex') : null)));
      opt.step();
      // Neither path writes into the gradients (with Nesterov and no weight decay, PyTorch 1.13's multi-tensor SGD did).
      assert.deepStrictEqual(
        L.tidy(() => params.map((p) => (p.grad ? Buffer.from(p.grad.bytes()).toString('hex') : null))),
        grads,
        `gradients changed by step ${step}`,
      );
    }
    const out = snapshot(params, opt);
    opt.dispose();
    L.dispose(params);
    return out;
  }

  for (const [variant, [name, o]] of Object.entries(variants))
    for (const dtypes of [['float32'], ['float64'], ['float32', 'float64']] as L.DType[][])
      test(`${variant}, ${dtypes.join(' and ')}`, () => {
        const foreach = run(name, o, true, dtypes);
        assert.deepStrictEqual(foreach, run(name, o, false, dtypes));
        // The steps moved the parameters (a vacuous comparison would pass too).
        assert.notDeepStrictEqual((foreach as { params: string[] }).params, (run(name, o, true, dtypes, 0) as { params: string[] }).params);
      });

  test('a parameter without a gradient is skipped, its state untouched, in both paths', () => {
    // Parameter 1 has no gradient in steps 0–1 (no state yet) and 3 (its state must stay as it was).
    const skip = (step: number, i: number) => i === 1 && (step < 2 || step === 3);
    for (const [name, o] of [
      ['sgd', { lr: 0.1, momentum: 0.9 }],
      ['adam', { lr: 0.01, amsgrad: true }],
      ['rmsprop', { lr: 0.01, centered: true, momentum: 0.5 }],
    ] as const) {
      const a = run(name, o, true, ['float32'], 5, skip) as { params: string[]; state: Array<[number, Record<string, unknown>]> };
      assert.deepStrictEqual(a, run(name, o, false, ['float32'], 5, skip), name);
      const untouched = run(name, o, true, ['float32'], 0);
      assert.equal(a.params[1] === (untouched as { params: string[] }).params[1], false, `${name}: parameter 1 took its 2 steps`);
      if (name !== 'sgd') assert.equal(a.state.find(([i]) => i === 1)![1].step, 2, name);
      // Without gradients at all: nothing moves, no state is made.
      const none = run(name, o, true, ['float32'], 3, () => true);
      assert.deepStrictEqual(none, untouched, name);
    }
  });

  test('a state dict from a foreach run loads into a per-parameter optimizer (and back) and continues bit for bit', () => {
    for (const [name, o] of [
      ['sgd', { lr: 0.1, momentum: 0.9, nesterov: true }],
      ['adam', { lr: 0.01, amsgrad: true }],
      ['adamw', { lr: 0.01 }],
      ['rmsprop', { lr: 0.01, centered: true, momentum: 0.5 }],
    ] as const)
      for (const first of [true, false]) {
        const whole = run(name, o, !first, ['float32', 'float64'], 5);
        const params = makeParams(['float32', 'float64']);
        const a = makers[name]!(params, { ...o, foreach: first });
        for (let step = 0; step < 3; step++) {
          setGrads(params, step);
          a.step();
        }
        const saved = a.stateDict();
        a.dispose();
        const b = makers[name]!(params, { ...o, foreach: !first });
        b.loadStateDict(saved);
        for (const s of saved.state.values()) L.dispose(s);
        // Options saved with the groups do not include foreach: b keeps its own.
        assert.equal(b.foreach, !first);
        assert.ok(!('foreach' in saved.paramGroups[0]!));
        for (let step = 3; step < 5; step++) {
          setGrads(params, step);
          b.step();
        }
        assert.deepStrictEqual(snapshot(params, b), whole, `${name}, foreach ${first} then ${!first}`);
        b.dispose();
        L.dispose(params);
      }
  });

  test('foreach steps and loadStateDict leave no handle behind', () => {
    for (const [name, o] of [
      ['sgd', { lr: 0.1, momentum: 0.9, weight_decay: 0.1 }],
      ['adam', { lr: 0.01, amsgrad: true, weight_decay: 0.1 }],
      ['adamw', { lr: 0.01 }],
      ['rmsprop', { lr: 0.01, centered: true, momentum: 0.5, weight_decay: 0.1 }],
    ] as const) {
      const params = makeParams(['float32', 'float64']);
      const opt = makers[name]!(params, o);
      setGrads(params, 0);
      opt.step();
      const live = L.memoryStats().liveTensors;
      for (let step = 1; step < 4; step++) {
        setGrads(params, step);
        opt.step();
      }
      assert.equal(L.memoryStats().liveTensors, live, `${name}: steps`);
      const saved = opt.stateDict();
      const withSaved = L.memoryStats().liveTensors;
      opt.loadStateDict(saved);
      assert.equal(L.memoryStats().liveTensors, withSaved, `${name}: loadStateDict`);
      for (const s of saved.state.values()) L.dispose(s);
      opt.dispose();
      L.dispose(params);
    }
  });

  test('the multi-tensor ops check their lists and turn libtorch errors into JS errors', () => {
    const p = L.zeros([2]).requiresGrad_();
    const g = L.ones([3]);
    const opts = { lr: 0.1, weightDecay: 0, momentum: 0, dampening: 0, nesterov: false };
    assert.throws(() => L.multiTensorSgd([p], [], [undefined], opts), /multi_tensor_sgd: argument 1 must hold one tensor per parameter \(1\), got 0/);
    assert.throws(
      () => L.multiTensorSgd([p], [g], [undefined], opts),
      (e: Error) => e instanceof L.NativeError && /^multi_tensor_sgd: /.test(e.message),
    );
    assert.throws(
      () =>
        L.multiTensorAdam([p], [L.ones([2])], [L.zeros([2])], [L.zeros([2])], [], {
          beta1: 0.9,
          beta2: 0.99,
          eps: 1e-8,
          weightDecay: 0,
          biasCorrection2Sqrt: [],
          stepSize: [1],
        }),
      /multi_tensor_adam: argument 10 must hold one number per parameter \(1\), got 0/,
    );
    const disposed = L.zeros([2]);
    disposed.dispose();
    assert.throws(
      () => L.multiTensorRMSprop([p], [L.ones([2])], [disposed], [], [], { lr: 0.1, alpha: 0.9, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false }),
      /Tensor was used after dispose/,
    );
    assert.deepStrictEqual(p.toFlatArray(), [0, 0]);
    // Empty lists are no step (libtorch's foreach ops refuse them).
    assert.deepStrictEqual(L.multiTensorSgd([], [], [], opts), []);
  });
});

describe('learning-rate schedules follow PyTorch', () => {
  const opt = () => new optim.SGD([L.zeros([1]).requiresGrad_()], { lr: 0.1, momentum: 0.9 });
  const schedules: Record<string, (o: optim.SGD) => optim.LRScheduler> = {
    step: (o) => new optim.StepLR(o, 3, 0.5),
    multistep: (o) => new optim.MultiStepLR(o, [2, 5], 0.1),
    cosine: (o) => new optim.CosineAnnealingLR(o, 10, 0.001),
    linear: (o) => new optim.LinearLR(o, 0.25, 1.0, 4),
    onecycle: (o) => new optim.OneCycleLR(o, 0.1, { totalSteps: 20 }),
    onecycle_linear_3phase: (o) => new optim.OneCycleLR(o, 0.2, { totalSteps: 15, annealStrategy: 'linear', threePhase: true }),
    warmup_cosine: (o) => new optim.SequentialLR(o, [new optim.LinearLR(o, 0.1, 1.0, 3), new optim.CosineAnnealingLR(o, 8)], [3]),
  };
  for (const [name, expected] of Object.entries(fx.schedules)) {
    test(name, () => {
      const o = opt();
      const s = schedules[name]!(o);
      const got: number[][] = [];
      for (let i = 0; i < expected.length; i++) {
        got.push([o.paramGroups[0]!.lr, o.paramGroups[0]!.momentum]);
        o.step();
        s.step();
      }
      for (const [i, row] of got.entries()) assertClose(row, expected[i]!, 1e-9, `${name} epoch ${i}`);
    });
  }

  test('OneCycleLR refuses to step past totalSteps', () => {
    const o = opt();
    const s = new optim.OneCycleLR(o, 0.1, { totalSteps: 3 });
    s.step();
    s.step();
    s.step();
    assert.throws(() => s.step(), /tried to step 4 times, more than totalSteps \(3\)/);
  });
});

test('clipGradNorm scales all gradients by one factor, as clip_grad_norm_', () => {
  const a = L.zeros([2]).requiresGrad_();
  const b = L.zeros([1, 1]).requiresGrad_();
  L.tidy(() =>
    a
      .mul(L.tensor([3, 4]))
      .sum()
      .add(b.mul(12).sum())
      .backward(),
  );
  const total = optim.clipGradNorm([a, b], 5);
  assertClose(total, fx.clip.total, 1e-6);
  L.tidy(() => {
    assertClose(a.grad!.toFlatArray(), fx.clip.a, 1e-6);
    assertClose(b.grad!.toFlatArray(), fx.clip.b.flat(), 1e-6);
  });
  L.tidy(() => a.grad!.fill_(NaN));
  assert.throws(() => optim.clipGradNorm([a, b], 5, { errorIfNonfinite: true }), /total norm of order 2 of the gradients is NaN/);
});
