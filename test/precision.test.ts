// Precision choice, inference mode and autocast's weight cache.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as L from '../src/index.js';

test("resolvePrecision: 'auto' follows the CPU's bf16 support (overridable), explicit choices stand", () => {
  const before = process.env.LSR_CPU_BF16;
  try {
    process.env.LSR_CPU_BF16 = '0';
    assert.deepEqual(L.resolvePrecision('auto'), { precision: 'fp32', reason: 'LSR_CPU_BF16=0' });
    process.env.LSR_CPU_BF16 = '1';
    assert.equal(L.resolvePrecision('auto').precision, 'bf16');
    assert.equal(L.resolvePrecision('fp32').precision, 'fp32');
    assert.equal(L.resolvePrecision('bf16').precision, 'bf16');
  } finally {
    if (before === undefined) delete process.env.LSR_CPU_BF16;
    else process.env.LSR_CPU_BF16 = before;
  }
});

test('inference mode records nothing for autograd', () => {
  L.tidy(() => {
    const w = L.randn([3]).requiresGrad_();
    const y = L.inferenceMode(() => w.mul(2));
    assert.equal(y.requiresGrad, false);
    assert.throws(() => y.mul(w).sum().backward(), /Inference tensors cannot be saved for backward/);
    assert.ok(w.mul(2).requiresGrad, 'outside, autograd records again');
  });
});

test("autocast keepCache reuses the weights' bf16 copies until clearAutocastCache()", () => {
  L.tidy(() => {
    const w = L.randn([4, 8]).requiresGrad_();
    const x = L.randn([2, 8]);
    const run = (keepCache: boolean) => L.autocast({ dtype: 'bfloat16', keepCache }, () => L.F.linear(x, w)).to('float32');
    const fresh = run(false);
    assert.equal(L.autocast({ dtype: 'bfloat16' }, () => L.F.linear(x, w)).dtype, 'bfloat16');
    assert.ok(run(true).equal(fresh));
    L.noGrad(() => w.mul_(2)); // the cached copy is now stale ...
    assert.ok(run(true).equal(fresh));
    L.clearAutocastCache(); // ... until the cache is cleared
    assert.ok(run(false).allclose(fresh.mul(2), 1e-2, 1e-2));
  });
});

test('logitsIn: under bf16 the features run in autocast, the head (fc) in float32 on float32 features', () => {
  L.tidy(() => {
    L.manualSeed(0);
    const model = new L.models.CifarResNet(8, { numClasses: 5, inChannels: 1 });
    const x = L.randn([4, 1, 16, 16]);
    const isBf16Rounded = (t: L.Tensor) => t.equal(t.to('bfloat16').to('float32'));
    // The whole model under autocast: every logit comes out of a bf16 matmul.
    assert.ok(isBf16Rounded(L.training.forwardIn('bf16', (v) => model.forward(v), x)));
    const logits = L.training.logitsIn('bf16', model, x);
    assert.equal(logits.dtype, 'float32');
    assert.ok(!isBf16Rounded(logits), 'the head runs in float32');
    assert.ok(logits.equal(model.fc.forward(L.training.forwardIn('bf16', (v) => model.features(v), x))));
    logits.sum().backward();
    assert.equal(model.fc.weight.grad?.dtype, 'float32');
    assert.ok(model.conv1.weight.grad!.abs().sum().item() > 0, 'the gradient reaches the autocast features');
    // fp32 runs are unchanged: logitsIn is the model's forward.
    assert.ok(L.training.logitsIn('fp32', model, x).equal(model.forward(x)));
  });
});
