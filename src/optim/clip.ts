// Gradient clipping by global norm: torch.nn.utils.clip_grad_norm_.
import { type Tensor, noGrad, stack, tensor, tidy } from '../engine/index.js';

/**
 * Scales all gradients together so that their global p-norm is at most maxNorm; returns the norm
 * before clipping. With errorIfNonfinite, a NaN or infinite norm is an error instead.
 */
export function clipGradNorm(params: Tensor[], maxNorm: number, o: { normType?: number; errorIfNonfinite?: boolean } = {}): number {
  const normType = o.normType ?? 2;
  return tidy(() =>
    noGrad(() => {
      const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== undefined);
      if (grads.length === 0) return 0;
      const norms = grads.map((g) => (normType === Infinity ? g.abs().max() : g.norm(normType)));
      const total = normType === Infinity ? stack(norms).max() : stack(norms).norm(normType);
      const value = total.item();
      if (o.errorIfNonfinite && !Number.isFinite(value)) throw new Error(`clipGradNorm: the total norm of order ${normType} of the gradients is ${value}`);
      const coef = tensor(maxNorm, { dtype: total.dtype }).div(total.add(1e-6)).clamp(null, 1);
      for (const g of grads) g.mul_(coef);
      return value;
    }),
  );
}
