// Multi-tensor ("foreach") optimizer steps: one call updates every parameter of a group that shares
// a device and dtype with at::_foreach_* ops, as PyTorch's default implementations on CUDA do
// (_multi_tensor_sgd, _multi_tensor_adam, _multi_tensor_rmsprop in torch/optim/*.py): a few kernel
// launches and N-API calls per group instead of ~5 per parameter. Each formula follows the
// per-parameter code in src/optim op for op, so both give the same bits (on the CPU the foreach ops
// run the per-tensor op on each tensor). Scalars that need a power (Adam's bias corrections) or a
// product (AdamW's 1 − lr·λ) come from the TypeScript side, computed as the per-parameter path does.
#include "common.h"

#include <ATen/core/grad_mode.h>

using lsr::Args;

namespace {

using Tensors = std::vector<at::Tensor>;

// The array argument i, one tensor per parameter (n of them); `none` allows empty (an unused state).
Tensors tensorList(const Args& a, size_t i, size_t n, bool allowNone = false) {
  Tensors ts = a.tensors(i);
  if (ts.size() != n && !(allowNone && ts.empty()))
    a.fail(i, "must hold one tensor per parameter (" + std::to_string(n) + "), got " + std::to_string(ts.size()));
  return ts;
}

// An array of tensor handles where null or undefined is a state buffer not made yet (an undefined tensor).
Tensors optTensorList(const Args& a, size_t i, size_t n) {
  if (i >= a.size() || !a.info[i].IsArray()) a.fail(i, "must be an array of tensors or nulls");
  auto arr = a.info[i].As<Napi::Array>();
  if (arr.Length() != n)
    a.fail(i, "must hold one entry per parameter (" + std::to_string(n) + "), got " + std::to_string(arr.Length()));
  Tensors out(n);
  for (uint32_t k = 0; k < n; k++) {
    Napi::Value v = arr[k];
    if (!v.IsNull() && !v.IsUndefined()) out[k] = a.element(i, k);
  }
  return out;
}

std::vector<at::Scalar> scalarList(const Args& a, size_t i, size_t n) {
  std::vector<double> v = a.numbers(i);
  if (v.size() != n) a.fail(i, "must hold one number per parameter (" + std::to_string(n) + "), got " + std::to_string(v.size()));
  return std::vector<at::Scalar>(v.begin(), v.end());
}

// The parameters [begin, end) of each list (an empty list stays empty: an unused state).
struct Range {
  size_t begin, end;
  Tensors operator()(const Tensors& v) const {
    return v.empty() ? v : Tensors(v.begin() + static_cast<std::ptrdiff_t>(begin), v.begin() + static_cast<std::ptrdiff_t>(end));
  }
  std::vector<at::Scalar> operator()(const std::vector<at::Scalar>& v) const {
    return std::vector<at::Scalar>(v.begin() + static_cast<std::ptrdiff_t>(begin), v.begin() + static_cast<std::ptrdiff_t>(end));
  }
};

// Runs step over consecutive ranges of the parameters. On the CPU a foreach op is a loop of
// per-tensor ops: running each op over the whole group before the next streams the model through
// memory once per op, where one parameter at a time keeps it in cache (resnet50 on 2 Zen 4 cores:
// SGD's step took 1.20× the per-parameter path's, AdamW's and RMSprop's 1.14×; bench/optim.ts, with
// these ranges 0.97×, 0.87×, 0.97×). Ranges of about 256 KiB of
// parameters keep both: cache-sized passes, and one call for many small tensors (batch norm's).
// Anywhere else (CUDA) one range: the fewer kernel launches the better.
constexpr int64_t kCpuRangeBytes = 256 << 10;
template <typename Step>
void inRanges(const Tensors& params, Step&& step) {
  size_t n = params.size();
  if (n == 0) return;
  if (!params[0].is_cpu()) return step(Range{0, n});
  size_t begin = 0;
  int64_t bytes = 0;
  for (size_t k = 0; k < n; k++) {
    bytes += static_cast<int64_t>(params[k].nbytes());
    if (bytes >= kCpuRangeBytes || k + 1 == n) {
      step(Range{begin, k + 1});
      begin = k + 1;
      bytes = 0;
    }
  }
}

}  // namespace

// multi_tensor_sgd(params, grads, momentum_buffers, lr, weight_decay, momentum, dampening, nesterov)
// momentum_buffers: one per parameter, null where none exists yet (ignored without momentum).
// Returns the buffers it made (a copy of the first step's d_p, as the per-parameter path makes
// them), undefined elsewhere: the caller owns them.
OP(multi_tensor_sgd) {
  at::NoGradGuard no_grad;
  Tensors params = a.tensors(0);
  size_t n = params.size();
  Tensors grads = tensorList(a, 1, n);
  double lr = a.number(3), weight_decay = a.number(4), momentum = a.number(5), dampening = a.number(6);
  bool nesterov = a.boolean(7);
  Tensors bufs = momentum != 0 ? optTensorList(a, 2, n) : Tensors();
  Tensors made(n);
  inRanges(params, [&](Range r) {
    Tensors p = r(params);
    Tensors d_p = weight_decay != 0 ? at::_foreach_add(r(grads), p, weight_decay) : r(grads);
    if (momentum != 0) {
      Tensors b(p.size()), old_bufs, old_d_p;
      for (size_t k = 0; k < p.size(); k++) {
        if (bufs[r.begin + k].defined()) {
          b[k] = bufs[r.begin + k];
          old_bufs.push_back(b[k]);
          old_d_p.push_back(d_p[k]);
        } else {
          b[k] = made[r.begin + k] = d_p[k].clone();
        }
      }
      if (!old_bufs.empty()) {
        at::_foreach_mul_(old_bufs, at::Scalar(momentum));
        at::_foreach_add_(old_bufs, old_d_p, 1 - dampening);
      }
      // Out of place: with no weight decay d_p is the gradients themselves, which stay as they are.
      d_p = nesterov ? at::_foreach_add(d_p, b, momentum) : b;
    }
    at::_foreach_add_(p, d_p, -lr);
  });
  return lsr::wrapList(a.env(), made);
}
END

// multi_tensor_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, beta1, beta2, eps,
//                   weight_decay, param_decay, bias_correction2_sqrt, step_size)
// max_exp_avg_sqs: [] without amsgrad. weight_decay: Adam's L2 term added to the gradient.
// param_decay: AdamW's factor 1 − lr·λ the weights are multiplied by first (null for Adam).
// bias_correction2_sqrt, step_size (−lr / bias_correction1): one per parameter, from its step.
OP(multi_tensor_adam) {
  at::NoGradGuard no_grad;
  Tensors params = a.tensors(0);
  size_t n = params.size();
  Tensors grads = tensorList(a, 1, n);
  Tensors exp_avgs = tensorList(a, 2, n);
  Tensors exp_avg_sqs = tensorList(a, 3, n);
  Tensors max_exp_avg_sqs = tensorList(a, 4, n, true);
  double beta1 = a.number(5), beta2 = a.number(6), eps = a.number(7), weight_decay = a.number(8);
  c10::optional<double> param_decay;
  if (!a.absent(9)) param_decay = a.number(9);
  std::vector<at::Scalar> bias_correction2_sqrt = scalarList(a, 10, n);
  std::vector<at::Scalar> step_size = scalarList(a, 11, n);
  bool amsgrad = !max_exp_avg_sqs.empty();
  inRanges(params, [&](Range r) {
    Tensors p = r(params), g = r(grads), m = r(exp_avgs), v = r(exp_avg_sqs), v_max = r(max_exp_avg_sqs);
    if (param_decay) at::_foreach_mul_(p, at::Scalar(*param_decay));
    else if (weight_decay != 0) g = at::_foreach_add(g, p, weight_decay);
    at::_foreach_mul_(m, at::Scalar(beta1));
    at::_foreach_add_(m, g, 1 - beta1);
    at::_foreach_mul_(v, at::Scalar(beta2));
    at::_foreach_addcmul_(v, g, g, 1 - beta2);
    if (amsgrad) at::_foreach_maximum_(v_max, v);
    Tensors denom = at::_foreach_sqrt(amsgrad ? v_max : v);
    at::_foreach_div_(denom, r(bias_correction2_sqrt));
    at::_foreach_add_(denom, at::Scalar(eps));
    at::_foreach_addcdiv_(p, m, denom, r(step_size));
  });
  return a.env().Undefined();
}
END

// multi_tensor_rmsprop(params, grads, square_avgs, grad_avgs, momentum_buffers, lr, alpha, eps,
//                      weight_decay, momentum, centered)
// grad_avgs: [] unless centered; momentum_buffers: [] unless momentum > 0.
OP(multi_tensor_rmsprop) {
  at::NoGradGuard no_grad;
  Tensors params = a.tensors(0);
  size_t n = params.size();
  Tensors grads = tensorList(a, 1, n);
  Tensors square_avgs = tensorList(a, 2, n);
  double lr = a.number(5), alpha = a.number(6), eps = a.number(7), weight_decay = a.number(8), momentum = a.number(9);
  bool centered = a.boolean(10);
  Tensors grad_avgs = tensorList(a, 3, centered ? n : 0);
  Tensors momentum_buffers = tensorList(a, 4, momentum > 0 ? n : 0);
  inRanges(params, [&](Range r) {
    Tensors p = r(params), g = r(grads), square_avg = r(square_avgs);
    if (weight_decay != 0) g = at::_foreach_add(g, p, weight_decay);
    at::_foreach_mul_(square_avg, at::Scalar(alpha));
    at::_foreach_addcmul_(square_avg, g, g, 1 - alpha);
    Tensors avg;
    if (centered) {
      Tensors grad_avg = r(grad_avgs);
      at::_foreach_mul_(grad_avg, at::Scalar(alpha));
      at::_foreach_add_(grad_avg, g, 1 - alpha);
      avg = at::_foreach_addcmul(square_avg, grad_avg, grad_avg, -1);
      at::_foreach_sqrt_(avg);
    } else {
      avg = at::_foreach_sqrt(square_avg);
    }
    at::_foreach_add_(avg, at::Scalar(eps));
    if (momentum > 0) {
      Tensors buf = r(momentum_buffers);
      at::_foreach_mul_(buf, at::Scalar(momentum));
      at::_foreach_addcdiv_(buf, g, avg);
      at::_foreach_add_(p, buf, -lr);
    } else {
      at::_foreach_addcdiv_(p, g, avg, -lr);
    }
  });
  return a.env().Undefined();
}
END
