// Optimizers, schedules and clipping against trajectories PyTorch recorded (test/fixtures/optim.json).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as L from '../src/index.js';
import { type Tensor, optim } from '../src/index.js';
import { assertClose, fixtures } from './helpers.js';

interface Fixture {
  start: number[];
  w: number[];
  trajectories: Record<string, { options: Record<string, number | boolean | number[]>; after: number[][] }>;
  schedules: Record<string, Array<[number, number]>>;
  clip: { total: number; a: number[]; b: number[][] };
}
const fx = JSON.parse(readFileSync(join(fixtures, 'optim.json'), 'utf8')) as Fixture;

type Make = (params: Tensor[], o: Record<string, number | boolean | number[]>) => optim.Optimizer<{ lr: number }>;
const camel = (o: Record<string, number | boolean | number[]>) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/_(\w)/g, (_, c: string) => c.toUpperCase()), v]));
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
  for (const [name, { options, after }] of Object.entries(fx.trajectories)) {
    test(name, () => {
      const p = L.tensor(fx.start).requiresGrad_();
      const opt = makers[name]!([p], options);
      const got = trajectory(opt, p, after.length);
      for (const [i, row] of got.entries()) assertClose(row, after[i]!, 1e-6, `${name} step ${i + 1}`);
      opt.dispose();
    });
  }

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
