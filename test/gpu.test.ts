// lsr on a CUDA device (issue 16): tensors and autograd there, a ResNet step equal to the CPU's in
// float64, bf16 autocast, the uint8 feed from pinned memory, the fused loss routed to libtorch's
// kernel, and checkpoints that move between devices. Without a GPU (CI's machines) every test is
// skipped, saying why; `npm run test:gpu` runs this file alone on a GPU machine.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import * as L from '../src/index.js';
import { data, models, optim, training } from '../src/index.js';
import { parseTrainArgs } from '../src/cli/specs.js';

// LSR_TEST_DEVICE=cpu runs the same tests on the CPU: a check of the tests themselves where no GPU is.
const dev = (process.env.LSR_TEST_DEVICE ?? 'cuda:0') as L.Device;
const skip = dev === 'cpu' || L.cuda.isAvailable() ? false : `no CUDA device: ${L.noCudaReason()}`;
const onGpu = dev !== 'cpu';

/** The largest absolute difference between two tensors (on any devices). */
const worst = (a: L.Tensor, b: L.Tensor): number => L.tidy(() => a.to('cpu').to('float64').sub(b.to('cpu').to('float64')).abs().max().item());

let root = '';
let leaves = '';
before(async () => {
  if (skip) return;
  root = mkdtempSync(join(tmpdir(), 'lsr-gpu-'));
  leaves = join(root, 'leaves');
  mkdirSync(join(leaves, 'images'), { recursive: true });
  let csv = 'image,label\n';
  for (let i = 0; i < 48; i++) {
    const px = Buffer.alloc(32 * 32 * 3);
    for (let k = 0; k < px.length; k++) px[k] = (k % 3 === i % 3 ? 190 : 50) + ((k * 7 + i * 13) % 50);
    await sharp(px, { raw: { width: 32, height: 32, channels: 3 } })
      .png()
      .toFile(join(leaves, 'images', `${i}.png`));
    csv += `images/${i}.png,class${i % 3}\n`;
  }
  writeFileSync(join(leaves, 'train.csv'), csv);
});
after(() => root && rmSync(root, { recursive: true, force: true }));

describe('tensors and autograd on CUDA', () => {
  test('ops and gradients on cuda:0 equal the CPU’s (float64)', { skip }, () => {
    L.manualSeed(0);
    const a = L.randn([5, 7], { dtype: 'float64' });
    const w = L.randn([7, 3], { dtype: 'float64' }).requiresGrad_();
    const ag = a.to(dev);
    const wg = w.detach().to(dev).requiresGrad_();
    assert.equal(ag.device, dev);
    const loss = (x: L.Tensor, v: L.Tensor) => x.matmul(v).tanh().pow(2).sum();
    loss(a, w).backward();
    loss(ag, wg).backward();
    assert.ok(worst(wg.grad!, w.grad!) < 1e-12);
    assert.equal(wg.grad!.device, dev);
  });

  test('a ResNet step (forward, smoothed loss, backward, SGD) on the GPU equals the CPU’s in float64 within 1e-9', { skip }, () => {
    L.manualSeed(0);
    const cpu = models.resnet20({ numClasses: 10 }).to('float64');
    const gpu = models.resnet20({ numClasses: 10 }).to('float64');
    gpu.loadStateDict(cpu.stateDict());
    gpu.to(dev);
    const x = L.randn([8, 3, 32, 32], { dtype: 'float64' });
    const y = L.randint(0, 10, [8]);
    for (const [m, xs, ys] of [
      [cpu, x, y],
      [gpu, x.to(dev), y.to(dev)],
    ] as const) {
      const opt = new optim.SGD(m.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
      for (let s = 0; s < 2; s++) {
        opt.zeroGrad();
        L.tidy(() => L.crossEntropy(m.forward(xs), ys, { labelSmoothing: 0.1 }).backward());
        opt.step();
      }
    }
    const g = gpu.stateDict();
    for (const [k, t] of cpu.stateDict()) if (t.isFloatingPoint) assert.ok(worst(g.get(k)!, t) < 1e-9, k);
  });

  test('bf16 autocast on CUDA: convolutions in bf16, the logits lsr reads in float32', { skip }, () => {
    const m = models.resnet20({ numClasses: 4 }).to(dev).to('channels_last');
    const x = L.randn([2, 3, 32, 32]).to(dev);
    const conv = L.autocast({ deviceType: L.deviceType(dev), dtype: 'bfloat16' }, () => m.conv1.forward(x));
    assert.equal(conv.dtype, 'bfloat16');
    assert.equal(training.logitsIn('bf16', m, x).dtype, 'float32');
    if (onGpu) assert.equal(L.resolvePrecision('auto', dev).precision, L.cuda.supportsBf16(0) ? 'bf16' : 'fp32');
  });

  test('the smoothed cross-entropy of CUDA tensors is libtorch’s kernel, equal to the fused CPU one', { skip }, () => {
    const logits = L.randn([16, 10], { dtype: 'float64' });
    const target = L.randint(0, 10, [16]);
    const weight = L.rand([10], { dtype: 'float64' });
    const onCpu = L.crossEntropy(logits, target, { labelSmoothing: 0.1, weight });
    const there = L.crossEntropy(logits.to(dev), target.to(dev), { labelSmoothing: 0.1, weight: weight.to(dev) });
    assert.equal(there.device, dev);
    assert.ok(worst(there, onCpu) < 1e-12);
    if (onGpu) assert.throws(() => L.F.labelSmoothedCrossEntropy(logits, target.to(dev)), /CPU kernel: input on cpu, target on cuda:0/);
  });
});

describe('feeding the GPU', () => {
  test('uint8 batches in pinned memory, normalised on the device, equal the workers’ float32 bit for bit', { skip }, async () => {
    const { dataset } = data.readImageCsv(join(leaves, 'train.csv'), { labeled: true });
    const pipeline = data.evalPipeline(32);
    const floats = new data.DataLoader(dataset, { batchSize: 16, pipeline });
    const pixels = new data.DataLoader(dataset, { batchSize: 16, pipeline, pixels: 'uint8', pinMemory: onGpu });
    const normalizer = new data.DeviceNormalizer(pipeline);
    const expected: L.Tensor[] = [];
    for await (const b of floats.epoch(0)) {
      expected.push(b.x);
      b.y.dispose();
    }
    let k = 0;
    for await (const b of data.prefetchTo(pixels.epoch(0), dev, normalizer)) {
      assert.equal(b.x.device, dev);
      assert.equal(b.x.dtype, 'float32');
      assert.equal(worst(b.x, expected[k]!), 0);
      k++;
      b.dispose();
    }
    assert.equal(k, expected.length);
    normalizer.dispose();
  });
});

describe('runs on the GPU', () => {
  const config = (out: string, ...more: string[]) =>
    parseTrainArgs('train', ['--data', leaves, '--model', 'resnet20', '--epochs', '2', '--batch-size', '8', '--workers', '2', '--out', out, ...more]).config;

  test('a run trained on cuda records it, evaluates on the CPU and the GPU alike, and resumes on the CPU', { skip }, async () => {
    const out = join(root, 'run');
    const run = await training.train(config(out, '--device', dev, '--precision', 'fp32'), { log: null, stopAfterEpochs: 1 });
    run.model.dispose();
    const there = training.loadRun(out, 'last', { device: dev });
    const onCpu = training.loadRun(out, 'last', { device: 'cpu' });
    assert.equal(there.config.device, dev);
    const { dataset } = data.readImageCsv(join(leaves, 'train.csv'), { labeled: true, vocab: onCpu.vocab });
    const a = await training.predictLogits(there, dataset);
    const b = await training.predictLogits(onCpu, dataset);
    // cuDNN's convolutions run in TF32 (PyTorch's default): close, not equal.
    const scale = Math.max(
      1,
      L.tidy(() => b.logits.abs().max().item()),
    );
    assert.ok(worst(a.logits, b.logits) < 2e-2 * scale, `${worst(a.logits, b.logits)} (largest logit ${scale})`);
    // The second epoch on the CPU, from the GPU's checkpoint.
    const resumed = await training.train(config(out, '--device', 'cpu', '--precision', 'fp32'), { log: null, resume: true });
    assert.equal(resumed.status, 'finished');
    assert.equal(resumed.epochs.length, 2);
  });

  test('a bf16 run on the GPU (auto) learns the toy classes', { skip }, async () => {
    const out = join(root, 'auto');
    const run = await training.train(config(out, '--device', onGpu ? 'auto' : 'cpu', '--epochs', '6', '--lr', '0.05'), { log: null });
    assert.ok(run.epochs.at(-1)!.trainAccuracy > 0.6, `${run.epochs.at(-1)!.trainAccuracy}`);
    run.model.dispose();
  });
});

describe('optimizers on the GPU', () => {
  // On CUDA the multi-tensor ops are fused kernels: close to the per-parameter path (bit for bit on the CPU, test/optim.test.ts).
  type Make = (ps: L.Tensor[], foreach: boolean) => optim.Optimizer<{ lr: number }>;
  const makers: Record<string, Make> = {
    sgd: (ps, foreach) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: true, foreach }),
    adamw: (ps, foreach) => new optim.AdamW(ps, { lr: 1e-2, amsgrad: true, foreach }),
    rmsprop: (ps, foreach) => new optim.RMSprop(ps, { lr: 1e-2, centered: true, momentum: 0.5, weightDecay: 0.1, foreach }),
  };
  for (const [name, make] of Object.entries(makers))
    test(`${name}: foreach and per-parameter steps agree on the device and with the CPU's (float64), and a CPU state dict resumes there`, { skip }, () => {
      L.manualSeed(0);
      const start = [[64, 3, 3, 3], [64], [10, 64], [10]].map((s) => L.randn(s, { dtype: 'float64' }));
      const grads = [0, 1, 2, 3, 4].map(() => start.map((t) => L.randnLike(t)));
      const on = (d: L.Device) => start.map((t) => t.to(d, { copy: true }).requiresGrad_());
      const steps = (ps: L.Tensor[], opt: optim.Optimizer<{ lr: number }>, from: number, to: number) => {
        for (let s = from; s < to; s++) {
          ps.forEach((p, i) => {
            p.grad = L.tidy(() => grads[s]![i]!.to(p.device as L.Device, { copy: true }));
          });
          opt.step();
        }
      };
      const [a, b, c] = [on(dev), on(dev), on('cpu')];
      const [fa, pb, fc] = [make(a, true), make(b, false), make(c, true)];
      steps(a, fa, 0, 3);
      steps(b, pb, 0, 3);
      steps(c, fc, 0, 3);
      a.forEach((p, i) => {
        assert.ok(worst(p, b[i]!) < 1e-12, `foreach against per-parameter: ${worst(p, b[i]!)}`);
        assert.ok(worst(p, c[i]!) < 1e-10, `device against CPU: ${worst(p, c[i]!)}`);
      });
      // The CPU's state dict loaded on the device: the state moves to the parameters' device.
      const d = c.map((t) => t.detach().to(dev, { copy: true }).requiresGrad_());
      const fd = make(d, true);
      fd.loadStateDict(fc.stateDict());
      const sd = fd.stateDict();
      for (const s of sd.state.values()) for (const v of Object.values(s)) if (typeof v !== 'number') assert.equal(v.device, dev === 'cuda' ? 'cuda:0' : dev);
      steps(d, fd, 3, 5);
      steps(c, fc, 3, 5);
      for (const [i, p] of d.entries()) assert.ok(worst(p, c[i]!) < 1e-10, `resumed on the device against the CPU: ${worst(p, c[i]!)}`);
      for (const o of [fa, pb, fc, fd]) o.dispose();
      L.dispose([start, grads, a, b, c, d, sd.state]);
    });
});
