// Neural-network functional ops, with PyTorch's argument order (torch.nn.functional).
#include "common.h"

using lsr::wrap;

// conv2d(x, weight, bias?, stride, padding, dilation, groups)
TENSOR_OP(conv2d, at::conv2d(a.tensor(0), a.tensor(1), a.optTensor(2), a.ints(3), a.ints(4), a.ints(5), a.integer(6)))
// batch_norm(x, weight?, bias?, running_mean?, running_var?, training, momentum, eps)
TENSOR_OP(batch_norm, at::batch_norm(a.tensor(0), a.optTensor(1), a.optTensor(2), a.optTensor(3), a.optTensor(4),
                                     a.boolean(5), a.number(6), a.number(7), /*cudnn_enabled=*/true))
TENSOR_OP(layer_norm, at::layer_norm(a.tensor(0), a.ints(1), a.optTensor(2), a.optTensor(3), a.number(4)))
TENSOR_OP(linear, at::linear(a.tensor(0), a.tensor(1), a.optTensor(2)))
// max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
TENSOR_OP(max_pool2d, at::max_pool2d(a.tensor(0), a.ints(1), a.ints(2), a.ints(3), a.ints(4), a.boolean(5)))
// avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override?)
TENSOR_OP(avg_pool2d, at::avg_pool2d(a.tensor(0), a.ints(1), a.ints(2), a.ints(3), a.boolean(4), a.boolean(5),
                                     a.optInteger(6)))
TENSOR_OP(adaptive_avg_pool2d, at::adaptive_avg_pool2d(a.tensor(0), a.ints(1)))
TENSOR_OP(dropout, at::dropout(a.tensor(0), a.number(1), a.boolean(2)))
TENSOR_OP(softmax, at::softmax(a.tensor(0), a.integer(1), a.optDtype(2)))
TENSOR_OP(log_softmax, at::log_softmax(a.tensor(0), a.integer(1), a.optDtype(2)))
// nll_loss(logprobs (N,C,...), target (N,...), weight?, reduction, ignore_index)
TENSOR_OP(nll_loss, at::nll_loss_nd(a.tensor(0), a.tensor(1), a.optTensor(2), a.reduction(3),
                                    a.integer(4)))
// cross_entropy(logits, target, weight?, reduction, ignore_index, label_smoothing): libtorch's own, the reference.
TENSOR_OP(cross_entropy, at::cross_entropy_loss(a.tensor(0), a.tensor(1), a.optTensor(2), a.reduction(3),
                                                a.integer(4), a.number(5)))
// kl_div(input logprobs, target, reduction, log_target)
TENSOR_OP(kl_div, at::kl_div(a.tensor(0), a.tensor(1), a.reduction(2), a.boolean(3)))
TENSOR_OP(mse_loss, at::mse_loss(a.tensor(0), a.tensor(1), a.reduction(2)))
TENSOR_OP(one_hot, at::one_hot(a.tensor(0), a.integer(1)))
// interpolate: (x, size[2], mode, align_corners)
OP(interpolate) {
  std::string mode = a.string(2);
  std::vector<int64_t> size = a.ints(1);
  if (mode == "bilinear") return wrap(a.env(), at::upsample_bilinear2d(a.tensor(0), size, a.boolean(3)));
  if (mode == "nearest") return wrap(a.env(), at::upsample_nearest2d(a.tensor(0), size));
  a.fail(2, "is an unknown mode '" + mode + "' (bilinear, nearest)");
}
END
