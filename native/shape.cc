// Shape, view and indexing ops.
#include "common.h"

using lsr::wrap;

TENSOR_OP(reshape, at::reshape(a.tensor(0), a.ints(1)))
TENSOR_OP(view, a.tensor(0).view(a.ints(1)))
TENSOR_OP(permute, a.tensor(0).permute(a.ints(1)))
TENSOR_OP(transpose, a.tensor(0).transpose(a.integer(1), a.integer(2)))
TENSOR_OP(flatten, a.tensor(0).flatten(a.integer(1), a.integer(2)))
OP(squeeze) {
  if (a.absent(1)) return wrap(a.env(), a.tensor(0).squeeze());
  return wrap(a.env(), a.tensor(0).squeeze(a.integer(1)));
}
END
TENSOR_OP(unsqueeze, a.tensor(0).unsqueeze(a.integer(1)))
TENSOR_OP(expand, a.tensor(0).expand(a.ints(1)))
TENSOR_OP(cat, at::cat(a.tensors(0), a.integer(1)))
TENSOR_OP(stack, at::stack(a.tensors(0), a.integer(1)))
OP(split) {
  int64_t dim = a.integer(2);
  if (a.info[1].IsNumber()) return lsr::wrapList(a.env(), at::split(a.tensor(0), a.integer(1), dim));
  return lsr::wrapList(a.env(), at::split_with_sizes(a.tensor(0), a.ints(1), dim));
}
END
OP(chunk) { return lsr::wrapList(a.env(), at::chunk(a.tensor(0), a.integer(1), a.integer(2))); } END
OP(unbind) { return lsr::wrapList(a.env(), at::unbind(a.tensor(0), a.integer(1))); } END
// as_strided(t, size, stride, offset): libtorch checks that the view lies inside the storage.
TENSOR_OP(as_strided, a.tensor(0).as_strided(a.ints(1), a.ints(2), a.integer(3)))
TENSOR_OP(narrow, a.tensor(0).narrow(a.integer(1), a.integer(2), a.integer(3)))
TENSOR_OP(select, a.tensor(0).select(a.integer(1), a.integer(2)))
TENSOR_OP(slice, a.tensor(0).slice(a.integer(1), a.optInteger(2), a.optInteger(3), a.integer(4)))
TENSOR_OP(index_select, at::index_select(a.tensor(0), a.integer(1), a.tensor(2)))
TENSOR_OP(gather, at::gather(a.tensor(0), a.integer(1), a.tensor(2)))
OP(scatter) {
  if (a.isTensor(3)) return wrap(a.env(), at::scatter(a.tensor(0), a.integer(1), a.tensor(2), a.tensor(3)));
  return wrap(a.env(), at::scatter(a.tensor(0), a.integer(1), a.tensor(2), a.scalar(3)));
}
END
TENSOR_OP(scatter_add, at::scatter_add(a.tensor(0), a.integer(1), a.tensor(2), a.tensor(3)))
INPLACE_OP(scatter_add_, a.tensor(0).scatter_add_(a.integer(1), a.tensor(2), a.tensor(3)))
OP(scatter_) {
  if (a.isTensor(3)) a.tensor(0).scatter_(a.integer(1), a.tensor(2), a.tensor(3));
  else a.tensor(0).scatter_(a.integer(1), a.tensor(2), a.scalar(3));
  return a.env().Undefined();
}
END
INPLACE_OP(index_add_, a.tensor(0).index_add_(a.integer(1), a.tensor(2), a.tensor(3), a.scalar(4)))
OP(masked_fill) {
  if (a.isTensor(2)) return wrap(a.env(), at::masked_fill(a.tensor(0), a.tensor(1), a.tensor(2)));
  return wrap(a.env(), at::masked_fill(a.tensor(0), a.tensor(1), a.scalar(2)));
}
END
TENSOR_OP(masked_select, at::masked_select(a.tensor(0), a.tensor(1)))
TENSOR_OP(nonzero, at::nonzero(a.tensor(0)))
TENSOR_OP(flip, at::flip(a.tensor(0), a.ints(1)))
TENSOR_OP(roll, at::roll(a.tensor(0), a.ints(1), a.ints(2)))
TENSOR_OP(repeat, a.tensor(0).repeat(a.ints(1)))
TENSOR_OP(tril, at::tril(a.tensor(0), a.integer(1)))
TENSOR_OP(triu, at::triu(a.tensor(0), a.integer(1)))
TENSOR_OP(diagonal, at::diagonal(a.tensor(0), a.integer(1), a.integer(2),
                                 a.integer(3)))
// index(t, [idx0, idx1, ...]) is t[idx0, idx1, ...] with integer or boolean index tensors (null skips a dim).
OP(index) {
  if (a.size() < 2 || !a.info[1].IsArray()) a.fail(1, "must be an array of index tensors or null");
  auto arr = a.info[1].As<Napi::Array>();
  c10::List<c10::optional<at::Tensor>> idx;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr[k];
    if (v.IsNull() || v.IsUndefined()) {
      idx.push_back(c10::nullopt);
    } else {
      idx.push_back(a.element(1, k));
    }
  }
  return wrap(a.env(), at::index(a.tensor(0), idx));
}
END
TENSOR_OP(pad, at::constant_pad_nd(a.tensor(0), a.ints(1), a.scalar(2)))
