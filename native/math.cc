// Elementwise arithmetic, comparisons, in-place updates, reductions and matrix products.
#include "common.h"

using lsr::wrap;

// ---- binary (tensor or number on either side, broadcasting) ----
TENSOR_OP(add, at::add(a.operand(0), a.operand(1), a.scalar(2)))
TENSOR_OP(sub, at::sub(a.operand(0), a.operand(1), a.scalar(2)))
TENSOR_OP(mul, at::mul(a.operand(0), a.operand(1)))
OP(div) {
  if (a.absent(2)) return wrap(a.env(), at::div(a.operand(0), a.operand(1)));
  return wrap(a.env(), at::div(a.operand(0), a.operand(1), a.string(2)));  // "trunc" | "floor"
}
END
TENSOR_OP(remainder, at::remainder(a.operand(0), a.operand(1)))
TENSOR_OP(pow, at::pow(a.operand(0), a.operand(1)))
TENSOR_OP(maximum, at::maximum(a.operand(0), a.operand(1)))
TENSOR_OP(minimum, at::minimum(a.operand(0), a.operand(1)))
TENSOR_OP(eq, at::eq(a.operand(0), a.operand(1)))
TENSOR_OP(ne, at::ne(a.operand(0), a.operand(1)))
TENSOR_OP(lt, at::lt(a.operand(0), a.operand(1)))
TENSOR_OP(le, at::le(a.operand(0), a.operand(1)))
TENSOR_OP(gt, at::gt(a.operand(0), a.operand(1)))
TENSOR_OP(ge, at::ge(a.operand(0), a.operand(1)))
TENSOR_OP(logical_and, at::logical_and(a.operand(0), a.operand(1)))
TENSOR_OP(logical_or, at::logical_or(a.operand(0), a.operand(1)))
TENSOR_OP(atan2, at::atan2(a.operand(0), a.operand(1)))
TENSOR_OP(where, at::where(a.tensor(0), a.operand(1), a.operand(2)))
OP(allclose) {
  return Napi::Boolean::New(a.env(), at::allclose(a.tensor(0), a.tensor(1), a.number(2), a.number(3), a.boolean(4)));
}
END
OP(equal) { return Napi::Boolean::New(a.env(), at::equal(a.tensor(0), a.tensor(1))); } END

// ---- unary ----
#define UNARY(name) TENSOR_OP(name, at::name(a.tensor(0)))
UNARY(neg)
UNARY(exp)
UNARY(expm1)
UNARY(log)
UNARY(log1p)
UNARY(log2)
UNARY(sqrt)
UNARY(rsqrt)
UNARY(abs)
UNARY(sign)
UNARY(sigmoid)
UNARY(tanh)
UNARY(relu)
UNARY(silu)
UNARY(erf)
UNARY(sin)
UNARY(square)
UNARY(reciprocal)
UNARY(floor)
UNARY(ceil)
UNARY(round)
UNARY(trunc)
UNARY(logical_not)
UNARY(isnan)
UNARY(isinf)
UNARY(isfinite)
#undef UNARY
TENSOR_OP(gelu, at::gelu(a.tensor(0), a.string(1)))  // approximate: none | tanh
TENSOR_OP(clamp, at::clamp(a.tensor(0), a.optScalar(1), a.optScalar(2)))

// ---- in place (for optimizers; return undefined, the TypeScript side returns `this`) ----
INPLACE_OP(add_, a.tensor(0).add_(a.operand(1), a.scalar(2)))
INPLACE_OP(sub_, a.tensor(0).sub_(a.operand(1), a.scalar(2)))
INPLACE_OP(mul_, a.tensor(0).mul_(a.operand(1)))
INPLACE_OP(div_, a.tensor(0).div_(a.operand(1)))
INPLACE_OP(pow_, a.tensor(0).pow_(a.operand(1)))
INPLACE_OP(addcmul_, a.tensor(0).addcmul_(a.tensor(1), a.tensor(2), a.scalar(3)))
INPLACE_OP(addcdiv_, a.tensor(0).addcdiv_(a.tensor(1), a.tensor(2), a.scalar(3)))
INPLACE_OP(copy_, a.tensor(0).copy_(a.tensor(1)))
INPLACE_OP(zero_, a.tensor(0).zero_())
INPLACE_OP(fill_, a.tensor(0).fill_(a.scalar(1)))
INPLACE_OP(clamp_, a.tensor(0).clamp_(a.optScalar(1), a.optScalar(2)))
INPLACE_OP(neg_, a.tensor(0).neg_())
INPLACE_OP(sqrt_, a.tensor(0).sqrt_())
INPLACE_OP(exp_, a.tensor(0).exp_())
INPLACE_OP(relu_, a.tensor(0).relu_())
OP(lerp_) {
  if (a.isTensor(2)) a.tensor(0).lerp_(a.tensor(1), a.tensor(2));
  else a.tensor(0).lerp_(a.tensor(1), a.scalar(2));
  return a.env().Undefined();
}
END
OP(masked_fill_) {
  if (a.isTensor(2)) a.tensor(0).masked_fill_(a.tensor(1), a.tensor(2));
  else a.tensor(0).masked_fill_(a.tensor(1), a.scalar(2));
  return a.env().Undefined();
}
END

// ---- reductions: (t, dims — null: every dimension —, keepdim, ...) ----
OP(sum) {
  auto dt = a.optDtype(3);
  if (a.absent(1)) return wrap(a.env(), at::sum(a.tensor(0), dt));
  return wrap(a.env(), at::sum(a.tensor(0), a.ints(1), a.boolean(2), dt));
}
END
OP(mean) {
  auto dt = a.optDtype(3);
  if (a.absent(1)) return wrap(a.env(), at::mean(a.tensor(0), dt));
  return wrap(a.env(), at::mean(a.tensor(0), a.ints(1), a.boolean(2), dt));
}
END
OP(prod) {
  if (a.absent(1)) return wrap(a.env(), at::prod(a.tensor(0)));
  return wrap(a.env(), at::prod(a.tensor(0), a.integer(1), a.boolean(2)));
}
END
// max/min over everything -> tensor; over one dim -> [values, indices].
OP(max) {
  if (a.absent(1)) return wrap(a.env(), at::max(a.tensor(0)));
  auto [v, i] = at::max(a.tensor(0), a.integer(1), a.boolean(2));
  return lsr::wrapList(a.env(), {v, i});
}
END
OP(min) {
  if (a.absent(1)) return wrap(a.env(), at::min(a.tensor(0)));
  auto [v, i] = at::min(a.tensor(0), a.integer(1), a.boolean(2));
  return lsr::wrapList(a.env(), {v, i});
}
END
TENSOR_OP(amax, at::amax(a.tensor(0), a.ints(1), a.boolean(2)))
TENSOR_OP(amin, at::amin(a.tensor(0), a.ints(1), a.boolean(2)))
TENSOR_OP(argmax, at::argmax(a.tensor(0), a.optInteger(1), a.boolean(2)))
TENSOR_OP(argmin, at::argmin(a.tensor(0), a.optInteger(1), a.boolean(2)))
TENSOR_OP(logsumexp, at::logsumexp(a.tensor(0), a.ints(1), a.boolean(2)))
// var/std(t, dims, keepdim, correction): correction 1 is Bessel's (PyTorch's default, set in TypeScript), 0 the population.
TENSOR_OP(var, at::var(a.tensor(0), lsr::optRef(a.optInts(1)), a.integer(3), a.boolean(2)))
TENSOR_OP(std, at::std(a.tensor(0), lsr::optRef(a.optInts(1)), a.integer(3), a.boolean(2)))
OP(norm) {
  at::Scalar p = a.scalar(3);
  if (a.absent(1)) return wrap(a.env(), at::norm(a.tensor(0), p));
  return wrap(a.env(), at::norm(a.tensor(0), p, a.ints(1), a.boolean(2)));
}
END
OP(all) {
  if (a.absent(1)) return wrap(a.env(), at::all(a.tensor(0)));
  return wrap(a.env(), at::all(a.tensor(0), a.integer(1), a.boolean(2)));
}
END
OP(any) {
  if (a.absent(1)) return wrap(a.env(), at::any(a.tensor(0)));
  return wrap(a.env(), at::any(a.tensor(0), a.integer(1), a.boolean(2)));
}
END
TENSOR_OP(cumsum, at::cumsum(a.tensor(0), a.integer(1), a.optDtype(2)))
OP(topk) {
  auto [v, i] = at::topk(a.tensor(0), a.integer(1), a.integer(2), a.boolean(3),
                         a.boolean(4));
  return lsr::wrapList(a.env(), {v, i});
}
END
OP(sort) {
  auto [v, i] = at::sort(a.tensor(0), /*stable=*/true, a.integer(1), a.boolean(2));
  return lsr::wrapList(a.env(), {v, i});
}
END
TENSOR_OP(argsort, at::argsort(a.tensor(0), a.integer(1), a.boolean(2)))

// ---- matrix products ----
TENSOR_OP(mm, at::mm(a.tensor(0), a.tensor(1)))
TENSOR_OP(bmm, at::bmm(a.tensor(0), a.tensor(1)))
TENSOR_OP(matmul, at::matmul(a.tensor(0), a.tensor(1)))
