// A run's precision policy: bf16 autocast with channels_last input where it pays, the classifier
// head and everything after it in float32; fp64 for exactness checks.
import { type Device, type ResolvedPrecision, type Tensor, autocast, deviceType, noGrad, tidy } from '../engine/index.js';
import type { Classifier } from '../models/index.js';

/**
 * fn in a run's precision: under bf16 autocast with channels_last input (the model's weights
 * stay float32), its output returned in float32 so that what follows (the head, the loss) runs in fp32.
 */
export function forwardIn(precision: ResolvedPrecision, fn: (x: Tensor) => Tensor, x: Tensor, o: { keepCache?: boolean } = {}): Tensor {
  if (precision === 'fp32') return fn(x);
  if (precision === 'fp64') return tidy(() => fn(x.to('float64')));
  return tidy(() =>
    autocast({ dtype: 'bfloat16', deviceType: deviceType(x.device), keepCache: o.keepCache }, () => fn(x.ndim === 4 ? x.contiguous('channels_last') : x)).to(
      'float32',
    ),
  );
}

/**
 * A classifier's logits in a run's precision. Under bf16 only the feature extractor runs in
 * autocast: the head (fc) runs in float32 on float32 features, since bf16 logits carry an
 * absolute error of ~0.03 at magnitude 8, which is what the (smoothed) loss reads.
 */
export function logitsIn(precision: ResolvedPrecision, model: Classifier, x: Tensor, o: { keepCache?: boolean; frozenBody?: boolean } = {}): Tensor {
  // A frozen body (--freeze-epochs) runs without autograd: backward stops at the head, and the
  // body's parameters get no gradient (their optimizer skips them: no decay, no momentum).
  if (o.frozenBody) return tidy(() => model.fc.forward(noGrad(() => forwardIn(precision, (v) => model.features(v), x, o))));
  if (precision !== 'bf16') return forwardIn(precision, (v) => model.forward(v), x, o);
  return tidy(() => model.fc.forward(forwardIn(precision, (v) => model.features(v), x, o)));
}

/** The device a model's weights are on. */
export function modelDevice(model: Classifier): Device {
  return (model.parameters()[0]?.device ?? 'cpu') as Device;
}

/** A model on the run's device, in the memory format and dtype of its precision (its weights float32 under bf16). */
export function placeFor<M extends Classifier>(precision: ResolvedPrecision, model: M, device: Device = 'cpu'): M {
  if (modelDevice(model) !== device) model.to(device);
  if (precision === 'bf16') model.to('channels_last');
  if (precision === 'fp64') model.to('float64');
  return model;
}
