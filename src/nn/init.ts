// torch.nn.init: the initialisers PyTorch's layers and torchvision's models use, drawing from
// libtorch's generator in the same order, so that manualSeed(s) gives PyTorch's initial weights.
import { type Tensor, noGrad } from '../engine/index.js';

/** fan_in, fan_out of a weight [out, in, ...kernel] (PyTorch's _calculate_fan_in_and_fan_out). */
export function fans(t: Tensor): [number, number] {
  if (t.ndim < 2) throw new Error(`init: fan in and fan out need at least 2 dimensions, got shape [${t.shape}]`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [t.shape[1]! * receptive, t.shape[0]! * receptive];
}

type Nonlinearity = 'relu' | 'leaky_relu' | 'linear' | 'sigmoid' | 'tanh';
/** PyTorch's calculate_gain. */
export function gain(nonlinearity: Nonlinearity, a = 0.01): number {
  if (nonlinearity === 'relu') return Math.SQRT2;
  if (nonlinearity === 'leaky_relu') return Math.sqrt(2 / (1 + a * a));
  if (nonlinearity === 'tanh') return 5 / 3;
  return 1;
}

export interface KaimingOptions {
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
}
function kaimingStd(t: Tensor, o: KaimingOptions): number {
  const [fanIn, fanOut] = fans(t);
  return gain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt((o.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut);
}
export function kaimingUniform_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, o);
  return noGrad(() => t.uniform_(-bound, bound));
}
export function kaimingNormal_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const std = kaimingStd(t, o);
  return noGrad(() => t.normal_(0, std));
}
export function uniform_(t: Tensor, low = 0, high = 1): Tensor {
  return noGrad(() => t.uniform_(low, high));
}
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  return noGrad(() => t.normal_(mean, std));
}
export function constant_(t: Tensor, value: number): Tensor {
  return noGrad(() => t.fill_(value));
}
