// The seed's two label-smoothing losses, written as the blog post writes them (PyTorch → lsr).
// Both equal PyTorch's cross_entropy(x, y, label_smoothing=ε) for class-index targets.
import { type DType, type Device, F, type Tensor, checkRange, full, tidy, zeros } from '../engine/index.js';

/** ε, as crossEntropy takes it. */
const SMOOTHING_RANGE = { min: 0, max: 1 };

/** NLL loss with label smoothing: confidence·NLL + ε·mean_c(−log p_c), averaged over the batch. */
export class LSR {
  readonly confidence: number;
  constructor(readonly smoothing = 0.0) {
    // As crossEntropy's labelSmoothing: outside [0, 1] the "loss" rewards the wrong classes.
    checkRange(smoothing, 'LSR: smoothing', SMOOTHING_RANGE);
    this.confidence = 1.0 - smoothing;
  }

  forward(x: Tensor, target: Tensor): Tensor {
    return tidy(() => {
      const logprobs = F.logSoftmax(x, -1);
      const nllLoss = logprobs.gather(-1, target.unsqueeze(1)).neg().squeeze(1);
      const smoothLoss = logprobs.mean(-1).neg();
      const loss = nllLoss.mul(this.confidence).add(smoothLoss.mul(this.smoothing));
      return loss.mean();
    });
  }
}

export type LSR2Reduction = 'none' | 'mean' | 'sum';

/** Cross-entropy against a smoothed one-hot target: (1−e)·onehot + e/C. */
export class LSR2 {
  constructor(
    readonly e = 0.01,
    readonly reduction: LSR2Reduction = 'mean',
  ) {
    checkRange(e, 'LSR2: e', SMOOTHING_RANGE);
  }

  /**
   * One-hot rows of `value` at each label: [batch, classes]. Built in the input's dtype: the seed
   * builds it in float32, which costs float64 inputs ~1e-9 against PyTorch's own cross-entropy.
   */
  private oneHot(labels: Tensor, classes: number, value: number, dtype: DType): Tensor {
    return tidy(() => {
      const n = labels.shape[0]!;
      const index = labels.view(n, -1);
      const valueAdded = full([n, 1], value, { dtype }).to(labels.device as Device);
      return zeros([n, classes], { dtype })
        .to(labels.device as Device)
        .scatterAdd(1, index, valueAdded);
    });
  }

  private smoothLabel(target: Tensor, length: number, smoothFactor: number, dtype: DType): Tensor {
    return tidy(() => this.oneHot(target, length, 1 - smoothFactor, dtype).add(smoothFactor / length));
  }

  forward(x: Tensor, target: Tensor): Tensor {
    const [n, c] = x.shape;
    if (n !== target.shape[0]) throw new Error(`LSR2: expected input batch size (${n}) to match target batch size (${target.shape[0]})`);
    if (x.ndim < 2) throw new Error(`LSR2: expected input to have at least 2 dimensions (got ${x.ndim})`);
    if (x.ndim !== 2) throw new Error(`LSR2: only 2-dimensional input is implemented (got shape [${x.shape}])`);
    if (!['none', 'mean', 'sum'].includes(this.reduction)) throw new Error(`LSR2: unrecognized reduction '${this.reduction}', expected one of none, mean, sum`);
    return tidy(() => {
      const smoothedTarget = this.smoothLabel(target, c!, this.e, x.dtype);
      const loss = F.logSoftmax(x, 1).neg().mul(smoothedTarget).sum(1);
      if (this.reduction === 'none') return loss;
      return this.reduction === 'sum' ? loss.sum() : loss.mean();
    });
  }
}
