// A small CNN written directly with engine ops (conv → relu → pool ×2 → linear), its SGD-momentum
// step, and a generated 4-class image problem. Shared by the example and the engine benchmarks;
// bench/overhead.py is the same network in PyTorch.
import { F, type Tensor, arange, fromTypedArray, keep, manualSeed, noGrad, randn, tidy, zeros, zerosLike } from '../src/index.js';

export interface SmallCnn {
  params: Tensor[];
  forward(x: Tensor): Tensor;
}

/** PyTorch's default init for conv/linear: U(-1/√fan_in, 1/√fan_in) for weights and biases. */
function uniformParam(shape: number[], fanIn: number): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return zeros(shape).uniform_(-bound, bound).requiresGrad_();
}

export function createSmallCnn(classes = 4, channels = 1, size = 28): SmallCnn {
  const c1 = uniformParam([16, channels, 3, 3], channels * 9);
  const b1 = uniformParam([16], channels * 9);
  const c2 = uniformParam([32, 16, 3, 3], 16 * 9);
  const b2 = uniformParam([32], 16 * 9);
  const flat = 32 * Math.floor(size / 4) * Math.floor(size / 4);
  const w3 = uniformParam([classes, flat], flat);
  const b3 = uniformParam([classes], flat);
  return {
    params: [c1, b1, c2, b2, w3, b3],
    forward: (x) =>
      tidy(() => {
        let h = F.maxPool2d(F.conv2d(x, c1, b1, { padding: 1 }).relu(), 2);
        h = F.maxPool2d(F.conv2d(h, c2, b2, { padding: 1 }).relu(), 2);
        return F.linear(h.flatten(1), w3, b3);
      }),
  };
}

/** SGD with momentum, PyTorch's update: buf = m·buf + g; p -= lr·buf. */
export function makeSgd(params: Tensor[], lr: number, momentum = 0.9): () => void {
  const bufs = params.map((p) => keep(zerosLike(p)));
  return () =>
    tidy(() =>
      noGrad(() => {
        params.forEach((p, i) => {
          const g = p.grad;
          if (g === undefined) return;
          bufs[i]!.mul_(momentum).add_(g);
          p.add_(bufs[i]!, -lr);
          p.grad = undefined;
        });
      }),
    );
}

/**
 * A generated 4-class problem: 28×28 single-channel images of a bright bar that is horizontal,
 * vertical, or one of the two diagonals, at a random offset, plus Gaussian noise.
 */
export function syntheticBars(n: number, seed: number, size = 28): { x: Tensor; y: Tensor } {
  manualSeed(seed);
  return tidy(() => {
    const y = arange(n).remainder(4);
    const labels = y.toFlatArray();
    const offsets = randn([n])
      .mul(size / 6)
      .round()
      .toFlatArray();
    const pixels = new Float32Array(n * size * size);
    for (let i = 0; i < n; i++) {
      const off = Math.round(offsets[i]!);
      for (let r = 0; r < size; r++)
        for (let c = 0; c < size; c++) {
          const k = labels[i]!;
          const d = k === 0 ? r - size / 2 - off : k === 1 ? c - size / 2 - off : k === 2 ? r - c - off : r + c - size - off;
          if (Math.abs(d) <= 1.5) pixels[i * size * size + r * size + c] = 1;
        }
    }
    const noise = randn([n, 1, size, size]).mul(0.5);
    return { x: fromTypedArray(pixels, [n, 1, size, size]).add(noise), y };
  });
}

/**
 * One training step of the small CNN on a fixed random batch (forward, label-smoothed
 * cross-entropy, backward, SGD-momentum update): the unit of work bench/leak and bench/overhead
 * time, and the same step bench/overhead.py runs in PyTorch.
 */
export function smallCnnTrainingStep(batch: number): () => void {
  const net = createSmallCnn(4);
  const sgd = makeSgd(net.params, 0.01, 0.9);
  const x = randn([batch, 1, 28, 28]).keep();
  const y = arange(batch).remainder(4).keep();
  return () => {
    tidy(() => F.crossEntropy(net.forward(x), y, { labelSmoothing: 0.1 }).backward());
    sgd();
  };
}
