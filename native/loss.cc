// Fused label-smoothed cross-entropy for class-index targets: the numbers of PyTorch's
// cross_entropy(x, y, weight, ignore_index, reduction, label_smoothing), computed in one pass per
// row instead of log_softmax + nll_loss + a smoothing sum (each a full N×C tensor).
//
// For a row x with target y, class weights w (all 1 without a weight), W = Σ_c w_c, ε smoothing:
//   m = max x,  s = Σ e^(x_c − m),  lse = m + log s
//   loss = (1 − ε)·w_y·(lse − x_y) + (ε/C)·Σ_c w_c·(lse − x_c)
//   ∂loss/∂x_c = ((1 − ε)·w_y + (ε/C)·W)·softmax_c − (ε/C)·w_c − (1 − ε)·w_y·[c = y]
// Forward keeps the input and one log-sum-exp per row; backward writes the gradient directly,
// or, under backward({ createGraph: true }), computes it from ATen ops so that it can be
// differentiated again (a gradient penalty).
// Ignored rows contribute 0; 'mean' divides by Σ w_y over the rows that are not ignored.
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstring>
#include <sstream>

#include "common.h"

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// ---- float rows, contiguous: written so that the compiler vectorizes them ----

// Each hot loop is compiled for AVX-512, AVX2 and the baseline, picked at load time.
#define LSR_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
constexpr int kLanes = 16;

// e^x for x ≤ 0 without branches: 2^k·e^r, |r| ≤ ln2/2, degree-7 Taylor polynomial (relative
// error below 1e-8 before rounding, under float's own). e^-inf = 0 and NaN stays NaN.
static inline __attribute__((always_inline)) float expNonPositive(float x) {
  const float lowest = -87.0f;  // e^-87 is still a normal float
  float xc = x < lowest ? lowest : x;
  // Round x·log2(e) to an integer k by adding 1.5·2^23: k then sits in the low mantissa bits.
  float shifted = xc * 1.44269504088896341f + 12582912.0f;
  float k = shifted - 12582912.0f;
  float r = xc - k * 0.693359375f;  // ln 2 in two parts, the first exact in few bits
  r = r + k * 2.12194440e-4f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  int32_t exponent = (bits - 0x4B400000 + 127) << 23;  // 2^k as float bits
  float scale;
  std::memcpy(&scale, &exponent, sizeof scale);
  float y = p * scale;
  return x < lowest ? 0.0f : y;
}

LSR_VECTOR_CLONES static float maxOfRow(const float* x, int64_t c) {
  float lane[kLanes];
  for (int k = 0; k < kLanes; ++k) lane[k] = -INFINITY;
  int64_t j = 0;
  for (; j + kLanes <= c; j += kLanes)
    for (int k = 0; k < kLanes; ++k) lane[k] = x[j + k] > lane[k] ? x[j + k] : lane[k];
  float m = -INFINITY;
  for (int k = 0; k < kLanes; ++k) m = lane[k] > m ? lane[k] : m;
  for (; j < c; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// Σ e^(x−m) and Σ w·(x−m) (w null: weights of 1), in one read of the row.
LSR_VECTOR_CLONES static void sumsOfRow(const float* x, const float* w, int64_t c, float m, double& sumExp,
                                        double& sumShifted) {
  float e[kLanes] = {}, t[kLanes] = {};
  int64_t j = 0;
  if (w) {
    for (; j + kLanes <= c; j += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        float d = x[j + k] - m;
        e[k] += expNonPositive(d);
        t[k] += w[j + k] * d;
      }
  } else {
    for (; j + kLanes <= c; j += kLanes)
      for (int k = 0; k < kLanes; ++k) {
        float d = x[j + k] - m;
        e[k] += expNonPositive(d);
        t[k] += d;
      }
  }
  double se = 0, st = 0;
  for (int k = 0; k < kLanes; ++k) se += e[k], st += t[k];
  for (; j < c; ++j) {
    float d = x[j] - m;
    se += expNonPositive(d);
    st += (w ? w[j] : 1.0f) * d;
  }
  sumExp = se;
  sumShifted = st;
}

// g = a·e^(x − lse) − b·w  (w null: − b).
LSR_VECTOR_CLONES static void gradOfRow(const float* x, const float* w, float* g, int64_t c, float lse, float a,
                                        float b) {
  if (w) {
    for (int64_t j = 0; j < c; ++j) g[j] = a * expNonPositive(x[j] - lse) - b * w[j];
  } else {
    for (int64_t j = 0; j < c; ++j) g[j] = a * expNonPositive(x[j] - lse) - b;
  }
}

// ---- any floating type, any stride between classes (inputs (N, C, d1, ...)) ----

template <typename T>
struct Row {
  const T* x;
  int64_t stride;
  T at(int64_t c) const { return x[c * stride]; }
};

template <typename T>
static void rowStats(Row<T> row, const T* w, int64_t c, double& m, double& sumExp, double& sumShifted) {
  if constexpr (std::is_same_v<T, float>) {
    if (row.stride == 1) {
      m = maxOfRow(row.x, c);
      sumsOfRow(row.x, w, c, static_cast<float>(m), sumExp, sumShifted);
      return;
    }
  }
  T mt = -INFINITY;
  for (int64_t j = 0; j < c; ++j) mt = row.at(j) > mt ? row.at(j) : mt;
  double se = 0, st = 0;
  for (int64_t j = 0; j < c; ++j) {
    T d = row.at(j) - mt;
    se += std::exp(d);
    st += static_cast<double>(w ? w[j] * d : d);
  }
  m = mt;
  sumExp = se;
  sumShifted = st;
}

template <typename T>
static void rowGrad(Row<T> row, const T* w, T* g, int64_t c, T lse, T a, T b) {
  if constexpr (std::is_same_v<T, float>) {
    if (row.stride == 1) return gradOfRow(row.x, w, g, c, lse, a, b);
  }
  for (int64_t j = 0; j < c; ++j) g[j * row.stride] = a * std::exp(row.at(j) - lse) - b * (w ? w[j] : T(1));
}

// The input seen as (N, C, D): class c of position (n, d) is at n·C·D + c·D + d.
struct Layout {
  int64_t n, c, d;
  int64_t positions() const { return n * d; }
  int64_t offset(int64_t p) const { return (p / d) * c * d + p % d; }
};

static Layout layoutOf(const at::Tensor& input) {
  if (input.dim() == 1) return {1, input.size(0), 1};
  int64_t n = input.size(0), c = input.size(1);
  return {n, c, c == 0 || n == 0 ? 1 : input.numel() / (n * c)};
}

// "[3]" or "[3, 7, 1]": a position of the target, for error messages.
static std::string positionName(const at::Tensor& target, int64_t p) {
  std::vector<int64_t> index(target.dim());
  for (int64_t k = target.dim() - 1; k >= 0; --k) {
    index[k] = p % target.size(k);
    p /= target.size(k);
  }
  std::ostringstream s;
  s << "[";
  for (size_t k = 0; k < index.size(); ++k) s << (k ? ", " : "") << index[k];
  s << "]";
  return s.str();
}

// Rows per task, so that each task touches at least ~32k logits.
static int64_t grainFor(int64_t c) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(c, 1)); }

struct LabelSmoothedCrossEntropy : public torch::autograd::Function<LabelSmoothedCrossEntropy> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& target,
                            const c10::optional<at::Tensor>& weight, int64_t reduction, int64_t ignoreIndex,
                            double smoothing) {
    TORCH_CHECK(input.scalar_type() == at::kFloat || input.scalar_type() == at::kDouble,
                "input must be float32 or float64, got ", input.scalar_type());
    TORCH_CHECK(target.scalar_type() == at::kLong, "target must be int64 class indices, got ", target.scalar_type());
    // A CPU kernel reading data_ptr: a tensor elsewhere (a CUDA target, a weight) must not reach it.
    TORCH_CHECK(input.is_cpu() && target.is_cpu() && !(weight && weight->defined() && !weight->is_cpu()),
                "the fused cross-entropy is a CPU kernel: input on ", input.device(), ", target on ", target.device(),
                weight && weight->defined() ? ", weight on " + weight->device().str() : std::string(),
                " (crossEntropy routes other devices to libtorch's kernel)");
    // Not capped at 1: smoothing only the other classes by ε is this formula with ε·C/(C−1).
    TORCH_CHECK(std::isfinite(smoothing) && smoothing >= 0.0, "label smoothing must be ≥ 0, got ", smoothing);
    TORCH_CHECK(input.dim() >= 1, "input must have a class dimension, got shape ", input.sizes());
    Layout L = layoutOf(input);
    std::vector<int64_t> expected(input.sizes().begin(), input.sizes().end());
    expected.erase(expected.begin() + (input.dim() == 1 ? 0 : 1));
    TORCH_CHECK(target.sizes() == at::IntArrayRef(expected), "target shape ", target.sizes(),
                " does not match input shape ", input.sizes(), " (expected ", at::IntArrayRef(expected), ")");
    TORCH_CHECK(L.positions() > 0 && L.c > 0, "empty input of shape ", input.sizes());
    at::Tensor x = input.contiguous(), y = target.contiguous();
    at::Tensor w;
    if (weight && weight->defined()) {
      TORCH_CHECK(weight->dim() == 1 && weight->numel() == L.c, "weight must have one value per class (", L.c,
                  "), got shape ", weight->sizes());
      w = weight->to(x.scalar_type()).contiguous();
    }
    const int64_t* ys = y.data_ptr<int64_t>();
    for (int64_t p = 0; p < L.positions(); ++p)
      if (ys[p] != ignoreIndex && (ys[p] < 0 || ys[p] >= L.c))
        TORCH_CHECK(false, "target", positionName(y, p), " = ", ys[p], " is not a class index in [0, ", L.c,
                    ") nor ignoreIndex (", ignoreIndex, ")");

    at::Tensor lse = at::empty({L.positions()}, x.options());
    at::Tensor losses = at::empty({L.positions()}, x.options());
    double denominator = 0;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "cross_entropy", [&] {
      const scalar_t* xs = x.data_ptr<scalar_t>();
      const scalar_t* ws = w.defined() ? w.data_ptr<scalar_t>() : nullptr;
      scalar_t* lses = lse.data_ptr<scalar_t>();
      scalar_t* out = losses.data_ptr<scalar_t>();
      double sumW = ws ? w.sum().item<double>() : static_cast<double>(L.c);
      at::parallel_for(0, L.positions(), grainFor(L.c), [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          if (ys[p] == ignoreIndex) {
            lses[p] = 0;
            out[p] = 0;
            continue;
          }
          Row<scalar_t> row{xs + L.offset(p), L.d};
          double m, sumExp, sumShifted;
          rowStats(row, ws, L.c, m, sumExp, sumShifted);
          double logS = std::log(sumExp);
          double wy = ws ? ws[ys[p]] : 1.0;
          double nll = wy * (logS - (static_cast<double>(row.at(ys[p])) - m));
          double smooth = sumW * logS - sumShifted;
          lses[p] = static_cast<scalar_t>(m + logS);
          // Without smoothing the smoothing term is left out, not multiplied by 0: a −inf logit
          // (a masked class) makes it +inf, and PyTorch's ε = 0 loss stays finite.
          out[p] = static_cast<scalar_t>(smoothing == 0 ? nll : (1 - smoothing) * nll + smoothing / L.c * smooth);
        }
      });
      // PyTorch returns NaN for these rows; lsr names the first one instead.
      for (int64_t p = 0; p < L.positions(); ++p) {
        if (ys[p] == ignoreIndex) continue;
        if (!std::isfinite(static_cast<double>(lses[p])))
          throw lsr::CodedError(lsr::kNonFiniteLogits, c10::str("input at position ", positionName(y, p),
                                                      " has NaN or +Inf logits, or all -Inf (its log-sum-exp is ", lses[p], ")"));
        denominator += ws ? ws[ys[p]] : 1.0;
      }
    });

    // The input itself too (the same tensor as x when contiguous): the differentiable backward
    // needs its graph.
    ctx->save_for_backward({x, y, w, lse, input});
    ctx->saved_data["reduction"] = reduction;
    ctx->saved_data["ignore"] = ignoreIndex;
    ctx->saved_data["smoothing"] = smoothing;
    ctx->saved_data["denominator"] = denominator;
    if (reduction == at::Reduction::None) return losses.view(target.sizes());
    // Summed in order, in double: the same number whatever the thread count.
    double total = 0;
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "cross_entropy_sum", [&] {
      const scalar_t* out = losses.data_ptr<scalar_t>();
      for (int64_t p = 0; p < L.positions(); ++p) total += out[p];
    });
    if (reduction == at::Reduction::Mean) total /= denominator;  // 0/0 = NaN when every row is ignored
    return at::scalar_tensor(total, x.options());
  }

  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &y = saved[1], &w = saved[2], &lse = saved[3];
    int64_t reduction = ctx->saved_data["reduction"].toInt();
    int64_t ignoreIndex = ctx->saved_data["ignore"].toInt();
    double smoothing = ctx->saved_data["smoothing"].toDouble();
    double denominator = ctx->saved_data["denominator"].toDouble();
    // Grad mode is on in a backward only under backward({ createGraph: true }) (autograd.grad
    // with create_graph): then the gradient must carry a graph of its own (a gradient penalty
    // differentiates it again), which the fused loop below cannot give.
    if (at::GradMode::is_enabled())
      return {differentiableGrad(saved[4], y, w, gradOutputs[0], reduction, ignoreIndex, smoothing, denominator),
              at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    Layout L = layoutOf(x);
    at::Tensor gradOutput = gradOutputs[0].to(x.scalar_type()).contiguous();
    at::Tensor gradInput = at::empty_like(x, at::MemoryFormat::Contiguous);
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "cross_entropy_backward", [&] {
      const scalar_t* xs = x.data_ptr<scalar_t>();
      const scalar_t* ws = w.defined() ? w.data_ptr<scalar_t>() : nullptr;
      const scalar_t* lses = lse.data_ptr<scalar_t>();
      const int64_t* ys = y.data_ptr<int64_t>();
      const scalar_t* go = gradOutput.data_ptr<scalar_t>();
      scalar_t* gs = gradInput.data_ptr<scalar_t>();
      double sumW = ws ? w.sum().item<double>() : static_cast<double>(L.c);
      double reducedScale = reduction == at::Reduction::Mean ? go[0] / denominator : go[0];
      at::parallel_for(0, L.positions(), grainFor(L.c), [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          scalar_t* g = gs + L.offset(p);
          if (ys[p] == ignoreIndex) {
            for (int64_t j = 0; j < L.c; ++j) g[j * L.d] = 0;
            continue;
          }
          double scale = reduction == at::Reduction::None ? static_cast<double>(go[p]) : reducedScale;
          double wy = ws ? ws[ys[p]] : 1.0;
          double a = scale * ((1 - smoothing) * wy + smoothing / L.c * sumW);
          double b = scale * smoothing / L.c;
          rowGrad(Row<scalar_t>{xs + L.offset(p), L.d}, ws, g, L.c, lses[p], static_cast<scalar_t>(a),
                  static_cast<scalar_t>(b));
          g[ys[p] * L.d] -= static_cast<scalar_t>(scale * (1 - smoothing) * wy);
        }
      });
    });
    return {gradInput, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }

  // The same gradient as the fused loop, from ATen ops on the saved input and the incoming
  // gradient, so that autograd can differentiate it again (double backward):
  //   scale·(((1 − ε)·w_y + (ε/C)·W)·softmax(x) − (ε/C)·w − (1 − ε)·w_y·onehot(y)), 0 where ignored,
  // scale being the output's gradient (divided by Σ w_y for 'mean').
  static at::Tensor differentiableGrad(const at::Tensor& input, const at::Tensor& y, const at::Tensor& w,
                                       const at::Tensor& gradOutput, int64_t reduction, int64_t ignoreIndex,
                                       double smoothing, double denominator) {
    const int64_t classDim = input.dim() == 1 ? 0 : 1;
    const int64_t C = input.size(classDim);
    std::vector<int64_t> classShape(input.dim(), 1);
    classShape[classDim] = C;
    const auto dtype = input.scalar_type();
    at::Tensor kept = y.ne(ignoreIndex);
    at::Tensor keptF = kept.to(dtype).unsqueeze(classDim);
    at::Tensor classes = y.masked_fill(kept.logical_not(), 0);
    at::Tensor weights = w.defined() ? w : at::ones({C}, input.options().requires_grad(false));
    const double sumW = w.defined() ? w.sum().item<double>() : static_cast<double>(C);
    // w_y per position, 0 where ignored (the target's shape, with the class dimension as 1).
    at::Tensor wy = weights.index_select(0, classes.reshape({-1})).view(y.sizes()).unsqueeze(classDim) * keptF;
    at::Tensor g = at::softmax(input, classDim) * ((1 - smoothing) * wy + (smoothing / C * sumW) * keptF);
    if (smoothing != 0) g = g - weights.view(classShape) * keptF * (smoothing / C);
    g = g - at::zeros_like(g).scatter(classDim, classes.unsqueeze(classDim), wy * (1 - smoothing));
    at::Tensor go = gradOutput.to(dtype);
    if (reduction == at::Reduction::None) go = go.unsqueeze(classDim);
    if (reduction == at::Reduction::Mean) go = go / denominator;
    // Ignored positions get 0, as in the fused loop (even with a NaN row, or a 'mean' over none).
    return (g * go).masked_fill(keptF.eq(0), 0);
  }
};

}  // namespace

// label_smoothed_cross_entropy(input (N,C,...) | (C), target int64 (N,...) | (), weight?, reduction,
// ignore_index, label_smoothing)
OP(label_smoothed_cross_entropy) {
  c10::optional<at::Tensor> weight = a.optTensor(2);
  return lsr::wrap(a.env(), LabelSmoothedCrossEntropy::apply(a.tensor(0), a.tensor(1), weight, a.reduction(3),
                                                             a.integer(4),
                                                             a.number(5)));
}
END
