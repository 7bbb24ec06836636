// Tensor creation, data in and out, metadata, autograd, memory, RNG, threads, grad mode, autocast.
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/csrc/autograd/function.h>
#include <torch/version.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/InferenceMode.h>

#include <memory>
#include <ATen/core/grad_mode.h>

#include <cstring>

#include "common.h"

using lsr::wrap;

// ---- data in ----

// fromBuffer(typedArray, shape, dtype[, pinned]): copies the bytes; the byte length must match
// shape × dtype. pinned: into page-locked memory (a CUDA build), which a device reads asynchronously.
OP(from_buffer) {
  if (a.size() < 1 || !a.info[0].IsTypedArray()) a.fail(0, "must be a typed array");
  auto arr = a.info[0].As<Napi::TypedArray>();
  std::vector<int64_t> shape = a.ints(1);
  at::ScalarType dt = a.dtype(2);
  int64_t numel = 1;
  for (int64_t s : shape) {
    if (s < 0) a.fail(1, "has a negative size");
    numel *= s;
  }
  size_t need = static_cast<size_t>(numel) * at::elementSize(dt);
  if (arr.ByteLength() != need)
    throw Napi::Error::New(a.env(), std::string("from_buffer: ") + std::to_string(arr.ByteLength()) +
                                        " bytes given for shape " + c10::str(at::IntArrayRef(shape)) + " of " +
                                        lsr::dtypeName(dt) + " (needs " + std::to_string(need) + ")");
  bool pinned = a.size() > 3 && a.boolean(3);
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dt).pinned_memory(pinned));
  if (need) {
    auto* src = static_cast<const uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
    std::memcpy(t.data_ptr(), src, need);
  }
  return wrap(a.env(), t);
}
END

// ---- data out ----

// to_buffer(t): a new typed array holding a contiguous CPU copy. Half floats come out as float32.
OP(to_buffer) {
  at::Tensor t = a.tensor(0).detach().to(at::kCPU);
  at::ScalarType dt = t.scalar_type();
  napi_typedarray_type kind;
  switch (dt) {
    case at::kFloat: kind = napi_float32_array; break;
    case at::kDouble: kind = napi_float64_array; break;
    case at::kLong: kind = napi_bigint64_array; break;
    case at::kInt: kind = napi_int32_array; break;
    case at::kShort: kind = napi_int16_array; break;
    case at::kChar: kind = napi_int8_array; break;
    case at::kByte: case at::kBool: kind = napi_uint8_array; break;
    case at::kBFloat16: case at::kHalf:
      t = t.to(at::kFloat);
      kind = napi_float32_array;
      break;
    default: throw Napi::Error::New(a.env(), std::string("to_buffer: unsupported dtype ") + c10::toString(dt));
  }
  t = t.contiguous();
  size_t bytes = t.numel() * t.element_size();
  auto buf = Napi::ArrayBuffer::New(a.env(), bytes);
  if (bytes) std::memcpy(buf.Data(), t.data_ptr(), bytes);
  napi_value out;
  NAPI_THROW_IF_FAILED(a.env(), napi_create_typedarray(a.env(), kind, t.numel(), buf, 0, &out), Napi::Value());
  return Napi::Value(a.env(), out);
}
END

// to_bytes(t): the raw bytes of a contiguous CPU copy (any dtype, bfloat16 and float16 included).
OP(to_bytes) {
  at::Tensor t = a.tensor(0).detach().to(at::kCPU).contiguous();
  size_t bytes = t.numel() * t.element_size();
  auto out = Napi::Uint8Array::New(a.env(), bytes);
  if (bytes) std::memcpy(out.Data(), t.data_ptr(), bytes);
  return out;
}
END

OP(item) {
  at::Scalar s = a.tensor(0).item();
  if (s.isBoolean()) return Napi::Boolean::New(a.env(), s.toBool());
  if (s.isIntegral(false)) return Napi::Number::New(a.env(), static_cast<double>(s.toLong()));
  return Napi::Number::New(a.env(), s.toDouble());
}
END

// ---- metadata ----

OP(shape) {
  const at::Tensor& t = a.tensor(0);
  auto arr = Napi::Array::New(a.env(), t.dim());
  for (int64_t i = 0; i < t.dim(); i++) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(a.env(), t.size(i)));
  return arr;
}
END

OP(strides) {
  const at::Tensor& t = a.tensor(0);
  auto arr = Napi::Array::New(a.env(), t.dim());
  for (int64_t i = 0; i < t.dim(); i++) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(a.env(), t.stride(i)));
  return arr;
}
END

OP(dtype) { return Napi::String::New(a.env(), lsr::dtypeName(a.tensor(0).scalar_type())); } END
OP(device) { return Napi::String::New(a.env(), a.tensor(0).device().str()); } END
OP(numel) { return Napi::Number::New(a.env(), static_cast<double>(a.tensor(0).numel())); } END
OP(dim) { return Napi::Number::New(a.env(), static_cast<double>(a.tensor(0).dim())); } END
OP(is_contiguous) { return Napi::Boolean::New(a.env(), a.tensor(0).is_contiguous(a.memoryFormat(1))); } END

// ---- creation ----
// Arguments end with (dtype, device), both required: the defaults (float32, cpu) are the TypeScript layer's.

TENSOR_OP(zeros, at::zeros(a.ints(0), a.options(1, 2)))
TENSOR_OP(ones, at::ones(a.ints(0), a.options(1, 2)))
TENSOR_OP(empty, at::empty(a.ints(0), a.options(1, 2)))
TENSOR_OP(full, at::full(a.ints(0), a.scalar(1), a.options(2, 3)))
TENSOR_OP(arange, at::arange(a.scalar(0), a.scalar(1), a.scalar(2), a.options(3, 4)))
TENSOR_OP(linspace, at::linspace(a.scalar(0), a.scalar(1), a.integer(2), a.options(3, 4)))
TENSOR_OP(eye, at::eye(a.integer(0), a.integer(1), a.options(2, 3)))
TENSOR_OP(rand, at::rand(a.ints(0), a.options(1, 2)))
TENSOR_OP(randn, at::randn(a.ints(0), a.options(1, 2)))
TENSOR_OP(randint, at::randint(a.integer(0), a.integer(1), a.ints(2), a.options(3, 4)))
TENSOR_OP(randperm, at::randperm(a.integer(0), a.options(1, 2)))
TENSOR_OP(scalar_tensor, at::scalar_tensor(a.scalar(0), a.options(1, 2)))

static at::TensorOptions likeOptions(lsr::Args& a, size_t dtypeArg) {
  at::TensorOptions o = a.tensor(0).options();
  if (!a.absent(dtypeArg)) o = o.dtype(a.dtype(dtypeArg));
  return o;
}
TENSOR_OP(zeros_like, at::zeros_like(a.tensor(0), likeOptions(a, 1)))
TENSOR_OP(ones_like, at::ones_like(a.tensor(0), likeOptions(a, 1)))
TENSOR_OP(empty_like, at::empty_like(a.tensor(0), likeOptions(a, 1)))
TENSOR_OP(full_like, at::full_like(a.tensor(0), a.scalar(1), likeOptions(a, 2)))
TENSOR_OP(rand_like, at::rand_like(a.tensor(0), likeOptions(a, 1)))
TENSOR_OP(randn_like, at::randn_like(a.tensor(0), likeOptions(a, 1)))
TENSOR_OP(randint_like, at::randint_like(a.tensor(0), a.integer(1), a.integer(2), likeOptions(a, 3)))

// In-place random fills, for initialisation.
INPLACE_OP(uniform_, a.tensor(0).uniform_(a.number(1), a.number(2)))
INPLACE_OP(normal_, a.tensor(0).normal_(a.number(1), a.number(2)))

// ---- conversion and copies ----

OP(to_dtype) {
  return wrap(a.env(), a.tensor(0).to(a.dtype(1), /*non_blocking=*/false, /*copy=*/a.boolean(2)));
}
END
// to_device(t, device, copy, nonBlocking): nonBlocking copies from pinned host memory (or to it)
// without waiting for the device; the stream orders later uses of the result.
OP(to_device) {
  return wrap(a.env(), a.tensor(0).to(a.device(1), /*non_blocking=*/a.boolean(3), /*copy=*/a.boolean(2)));
}
END
// pin_memory(t): a copy in page-locked host memory, which a CUDA device reads asynchronously.
TENSOR_OP(pin_memory, a.tensor(0).pin_memory())
OP(is_pinned) { return Napi::Boolean::New(a.env(), a.tensor(0).is_pinned()); } END
TENSOR_OP(contiguous, a.tensor(0).contiguous(a.memoryFormat(1)))
TENSOR_OP(clone, a.tensor(0).clone(a.memoryFormat(1)))
TENSOR_OP(detach, a.tensor(0).detach())

// ---- autograd ----

OP(requires_grad) { return Napi::Boolean::New(a.env(), a.tensor(0).requires_grad()); } END
// set_data(t, other): Python's `t.data = other`: t keeps its identity (and autograd leaf status)
// and takes other's storage, dtype and device. Module.to() uses it.
INPLACE_OP(set_data, a.tensor(0).set_data(a.tensor(1)))
INPLACE_OP(set_requires_grad, a.tensor(0).requires_grad_(a.boolean(1)))
OP(is_leaf) { return Napi::Boolean::New(a.env(), a.tensor(0).is_leaf()); } END
OP(grad_fn_name) {
  auto fn = a.tensor(0).grad_fn();
  if (!fn) return a.env().Null();
  return Napi::String::New(a.env(), fn->name());
}
END
TENSOR_OP(grad, a.tensor(0).grad())
OP(set_grad) {
  const at::Tensor& t = a.tensor(0);
  if (a.absent(1)) {
    t.mutable_grad().reset();
  } else {
    const at::Tensor& g = a.tensor(1);
    TORCH_CHECK(g.sizes() == t.sizes(), "grad of shape ", g.sizes(), " does not match the tensor's shape ", t.sizes());
    t.mutable_grad() = g;
  }
  return a.env().Undefined();
}
END
OP(retain_grad) { a.tensor(0).retain_grad(); return a.env().Undefined(); } END
OP(backward) {
  const at::Tensor& t = a.tensor(0);
  c10::optional<at::Tensor> g = a.optTensor(1);
  bool retain = a.boolean(2);
  bool create = a.boolean(3);
  t.backward(g ? *g : at::Tensor(), retain, create);
  return a.env().Undefined();
}
END

// inference_mode_enter() / inference_mode_exit(): c10::InferenceMode (no autograd bookkeeping, no
// version counters) around a synchronous JS call. The guard is an RAII object, so it lives on a
// stack here between the two calls; exits come in the reverse order of entries. One stack per
// thread (worker_threads call too), as the mode itself is per thread.
static thread_local std::vector<std::unique_ptr<c10::InferenceMode>> inferenceGuards;
OP(inference_mode_enter) {
  inferenceGuards.push_back(std::make_unique<c10::InferenceMode>(true));
  return a.env().Undefined();
}
END
OP(inference_mode_exit) {
  if (inferenceGuards.empty()) throw std::logic_error("inference mode exited more often than entered");
  inferenceGuards.pop_back();
  return a.env().Undefined();
}
END

OP(set_grad_enabled) {
  bool prev = at::GradMode::is_enabled();
  at::GradMode::set_enabled(a.boolean(0));
  return Napi::Boolean::New(a.env(), prev);
}
END
OP(is_grad_enabled) { return Napi::Boolean::New(a.env(), at::GradMode::is_enabled()); } END

// ---- autocast ----
// libtorch 2.4 replaced the per-device autocast calls (is_cpu_enabled, set_autocast_gpu_dtype, …),
// deprecated since, by calls that take the device; 1.13 has only the old ones.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
static bool autocastEnabled(at::DeviceType d) { return at::autocast::is_autocast_enabled(d); }
static at::ScalarType autocastDtype(at::DeviceType d) { return at::autocast::get_autocast_dtype(d); }
static void setAutocast(at::DeviceType d, bool enabled, at::ScalarType dt) {
  at::autocast::set_autocast_enabled(d, enabled);
  at::autocast::set_autocast_dtype(d, dt);
}
#else
static bool autocastEnabled(at::DeviceType d) { return d == at::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled(); }
static at::ScalarType autocastDtype(at::DeviceType d) {
  return d == at::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
}
static void setAutocast(at::DeviceType d, bool enabled, at::ScalarType dt) {
  if (d == at::kCPU) {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dt);
  } else {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dt);
  }
}
#endif

// autocast_enter(device_type, dtype) -> previous state; autocast_exit(device_type, prev_enabled, prev_dtype).
OP(autocast_enter) {
  std::string dev = a.string(0);
  at::ScalarType dt = a.dtype(1);
  if (dev != "cpu" && dev != "cuda") a.fail(0, "must be 'cpu' or 'cuda' (got '" + dev + "')");
  at::DeviceType d = dev == "cpu" ? at::kCPU : at::kCUDA;
  auto res = Napi::Object::New(a.env());
  res.Set("enabled", autocastEnabled(d));
  res.Set("dtype", lsr::dtypeName(autocastDtype(d)));
  setAutocast(d, true, dt);
  at::autocast::increment_nesting();
  return res;
}
END
OP(autocast_clear_cache) {
  at::autocast::clear_cache();
  return a.env().Undefined();
}
END
OP(autocast_exit) {
  std::string dev = a.string(0);
  bool enabled = a.boolean(1);
  at::ScalarType dt = a.dtype(2);
  setAutocast(dev == "cpu" ? at::kCPU : at::kCUDA, enabled, dt);
  // Leaving the outermost region frees the cached casts of weights, as torch.autocast does, unless
  // the caller keeps them for the next region (inference over many batches of unchanged weights).
  bool keepCache = a.boolean(3);
  if (at::autocast::decrement_nesting() == 0 && !keepCache) at::autocast::clear_cache();
  return a.env().Undefined();
}
END

// ---- memory ----

OP(dispose) {
  return Napi::Boolean::New(a.env(), lsr::release(a.env(), a.handle(0)));
}
END
OP(mark_external) {
  return Napi::Boolean::New(a.env(), lsr::markExternal(a.env(), a.handle(0)));
}
END
OP(memory_stats) {
  auto o = Napi::Object::New(a.env());
  o.Set("liveTensors", Napi::Number::New(a.env(), static_cast<double>(lsr::liveTensors())));
  o.Set("bytes", Napi::Number::New(a.env(), static_cast<double>(lsr::liveBytes())));
  return o;
}
END
// The error classes by code ({ LSR_NATIVE: NativeError, ... }), registered once by src/engine/native.ts.
OP(set_error_classes) {
  if (!a.info[0].IsObject()) a.fail(0, "must be an object of error classes by code");
  auto* classes = a.env().GetInstanceData<lsr::ErrorClasses>();
  if (classes == nullptr) {
    classes = new lsr::ErrorClasses();
    a.env().SetInstanceData(classes);
  }
  classes->byCode = Napi::Persistent(a.info[0].As<Napi::Object>());
  return a.env().Undefined();
}
END
OP(external_memory_stats) {
  auto e = lsr::externalMemory();
  auto o = Napi::Object::New(a.env());
  o.Set("escapedBytes", Napi::Number::New(a.env(), static_cast<double>(e.escaped)));
  o.Set("reportedBytes", Napi::Number::New(a.env(), static_cast<double>(e.reported)));
  o.Set("reportedIncreases", Napi::Number::New(a.env(), static_cast<double>(e.reportedIncreases)));
  return o;
}
END

// ---- RNG, threads, build info ----

OP(manual_seed) {
  int64_t seed = a.integer(0);
  at::manual_seed(static_cast<uint64_t>(seed));
  return a.env().Undefined();
}
END
// A device's default generator: the CPU's, or a CUDA device's (through ATen's hooks, so the same
// source builds without CUDA). The CPU takes the same path as CUDA, so a CPU test covers it.
static at::Generator defaultGenerator(const lsr::Args& a, size_t i) {
  at::Device device = a.device(i);
  if (device.is_cuda()) {
    int64_t count = at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0;
    if (!device.has_index() || device.index() >= count)
      a.fail(i, "names no CUDA device here (" + std::to_string(count) + " CUDA devices; give cuda:N)");
  } else if (!device.is_cpu()) {
    a.fail(i, "has no generator state lsr saves (cpu or cuda:N)");
  }
  return at::globalContext().defaultGenerator(device);
}
// get_rng_state(device) -> uint8 tensor on the CPU (torch.get_rng_state / torch.cuda.get_rng_state).
TENSOR_OP(get_rng_state, defaultGenerator(a, 0).get_state())
// set_rng_state(state, device)
OP(set_rng_state) {
  auto gen = defaultGenerator(a, 1);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(a.tensor(0));
  return a.env().Undefined();
}
END

OP(set_num_threads) {
  int64_t n = a.integer(0);
  TORCH_CHECK(n > 0, "the number of threads must be positive (got ", n, ")");
  at::set_num_threads(static_cast<int>(n));
  return a.env().Undefined();
}
END
OP(get_num_threads) { return Napi::Number::New(a.env(), at::get_num_threads()); } END

// ---- CUDA devices ----
// Through ATen's CUDA hooks, which libtorch_cuda registers when it is loaded: the same source
// compiles without CUDA's headers, and a CPU-only libtorch answers "no device".

static c10::DeviceIndex cudaIndex(const lsr::Args& a, size_t i) {
  int64_t index = a.integer(i);
  int64_t count = at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0;
  if (index < 0 || index >= count) a.fail(i, "cuda:" + std::to_string(index) + " is not a device here (" + std::to_string(count) + " CUDA devices)");
  return static_cast<c10::DeviceIndex>(index);
}
OP(cuda_device_count) {
  return Napi::Number::New(a.env(), at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0);
}
END
// cuda_supports_bf16(index): compute capability ≥ 8.0 with cuDNN ≥ 8 (bf16 convolutions), as
// torch.cuda.is_bf16_supported() decides; the hook reads the current device, hence the guard.
OP(cuda_supports_bf16) {
  c10::DeviceGuard guard(at::Device(at::kCUDA, cudaIndex(a, 0)));
  return Napi::Boolean::New(a.env(), at::detail::getCUDAHooks().supportsBFloat16ConvolutionWithCuDNNv8());
}
END
// cuda_synchronize(index): waits for the device's queued work (timing; reading results syncs anyway).
OP(cuda_synchronize) {
  at::detail::getCUDAHooks().deviceSynchronize(cudaIndex(a, 0));
  return a.env().Undefined();
}
END
// set_cudnn_benchmark(on) -> previous: cuDNN times its algorithms once per input shape and keeps the
// fastest (torch.backends.cudnn.benchmark), right for a run whose shapes do not change.
OP(set_cudnn_benchmark) {
  bool prev = at::globalContext().benchmarkCuDNN();
  at::globalContext().setBenchmarkCuDNN(a.boolean(0));
  return Napi::Boolean::New(a.env(), prev);
}
END

OP(build_info) {
  auto o = Napi::Object::New(a.env());
  o.Set("torchVersion", std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH));
  o.Set("cudaAvailable", at::hasCUDA());
#ifdef LSR_CUDA
  o.Set("cudaBuild", true);
#else
  o.Set("cudaBuild", false);
#endif
  o.Set("parallel", at::get_parallel_info());
  o.Set("config", at::show_config());
  return o;
}
END
