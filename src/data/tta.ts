// Test-time augmentation: the class probabilities averaged over the image and its mirror.
import { type Tensor, F, noGrad, tidy } from '../engine/index.js';

/** mean(softmax(f(x)), softmax(f(flip_w(x)))) for a batch x [N, C, H, W]. */
export function flipAveragedProbabilities(forward: (x: Tensor) => Tensor, x: Tensor): Tensor {
  return tidy(() =>
    noGrad(() =>
      F.softmax(forward(x), 1)
        .add(F.softmax(forward(x.flip([3])), 1))
        .div(2),
    ),
  );
}
