// The thin C++ layer: a tensor handle, argument readers and the error guard.
// Every entry point is written with OP(name) ... END, and declared by its line in native/ops.table:
// its body runs inside a guard that turns c10::Error, std::exception and anything else into a JS
// Error "name: first line of the message".
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace lsr {

// A handle is a JS BigInt naming a slot in a table of tensors: (generation << 32) | slot.
// Each live slot owns one reference to an at::Tensor. Releasing a slot bumps its generation, so a
// stale or forged handle is an error, never a dangling pointer. There is no native GC finalizer
// (Node defers those to the event loop, where a synchronous training loop lets them pile up);
// the backstop is a FinalizationRegistry on the JS side, calling the same idempotent dispose().
using HandleId = uint64_t;

// Live handle count and bytes, for memoryStats().
int64_t liveTensors();
int64_t liveBytes();
// The bytes of handles that left every tidy() scope, what V8 was last told of, and the sum of the
// increases it was told of.
struct ExternalMemory {
  int64_t escaped, reported, reportedIncreases;
};
ExternalMemory externalMemory();

// Wraps a tensor in a new handle (undefined tensors become JS undefined).
Napi::Value wrap(Napi::Env env, at::Tensor t);
Napi::Value wrapList(Napi::Env env, const std::vector<at::Tensor>& ts);
// Frees the handle's tensor now; false if it was already released (safe to call twice).
bool release(Napi::Env env, HandleId id);
// Counts the handle's bytes in the external memory V8 is told of (it is now freed by its owner or
// the GC, no longer by a tidy() scope); false if it was released.
bool markExternal(Napi::Env env, HandleId id);
// The tensor behind a handle (a new reference), or an undefined tensor when it was released;
// `valid` is false for an id that never named a slot (forged or corrupt). The table is shared by
// every thread (worker_threads included) and locked: a handle is valid in any thread until one
// of them releases it.
at::Tensor lookup(HandleId id, bool& valid);

// Argument readers: each checks the JS type and throws a TypeError naming the argument. A value
// is required unless the reader is opt*: defaults live in one layer, the TypeScript one, and an
// `absent` argument is PyTorch's None (e.g. reduce over every dimension), never a default.
struct Args {
  const Napi::CallbackInfo& info;
  const char* op;
  Napi::Env env() const { return info.Env(); }
  size_t size() const { return info.Length(); }
  bool absent(size_t i) const { return i >= info.Length() || info[i].IsUndefined() || info[i].IsNull(); }
  [[noreturn]] void fail(size_t i, const std::string& what) const;

  HandleId handle(size_t i) const;
  // A new reference to the tensor (the table may change under another thread once this returns).
  at::Tensor tensor(size_t i) const;
  c10::optional<at::Tensor> optTensor(size_t i) const;
  bool isTensor(size_t i) const { return i < info.Length() && info[i].IsBigInt(); }
  // A tensor, or a JS number/boolean as a "wrapped number" tensor: the way Python passes
  // scalars to binary ops, so type promotion matches PyTorch (int tensor * 0.5 -> float).
  at::Tensor operand(size_t i) const;
  std::vector<at::Tensor> tensors(size_t i) const;
  // Element k of the array argument i, which must be a live tensor handle.
  at::Tensor element(size_t i, uint32_t k) const;
  double number(size_t i) const;
  int64_t integer(size_t i) const;
  c10::optional<int64_t> optInteger(size_t i) const;
  bool boolean(size_t i) const;
  at::Scalar scalar(size_t i) const;
  c10::optional<at::Scalar> optScalar(size_t i) const;
  std::vector<int64_t> ints(size_t i) const;
  std::vector<double> numbers(size_t i) const;
  c10::optional<std::vector<int64_t>> optInts(size_t i) const;
  std::string string(size_t i) const;
  // 'none' | 'mean' | 'sum' as at::Reduction.
  int64_t reduction(size_t i) const;
  at::ScalarType dtype(size_t i) const;
  c10::optional<at::ScalarType> optDtype(size_t i) const;
  at::Device device(size_t i) const;
  at::MemoryFormat memoryFormat(size_t i) const;
  at::TensorOptions options(size_t dtypeArg, size_t deviceArg) const;
};

const char* dtypeName(at::ScalarType t);

// Views an optional list of ints (valid for the full expression that holds the optional).
inline at::OptionalIntArrayRef optRef(const c10::optional<std::vector<int64_t>>& v) {
  return v ? at::OptionalIntArrayRef(*v) : at::OptionalIntArrayRef();
}

// An error with a stable code that the TypeScript side maps to an error class (src/engine/errors.ts):
// callers match the code, never the message.
struct CodedError : std::runtime_error {
  std::string code;
  CodedError(std::string c, const std::string& message) : std::runtime_error(message), code(std::move(c)) {}
};
// Logits that PyTorch would turn into a NaN loss (NonFiniteLogitsError).
constexpr const char* kNonFiniteLogits = "LSR_NONFINITE_LOGITS";
// Any other error from libtorch (NativeError).
constexpr const char* kNative = "LSR_NATIVE";

// Per JS environment (the main thread, each worker_thread), made when the addon is initialised
// in it: the error classes the TypeScript side registered (set_error_classes) and the account of
// the external memory its V8 is told of.
struct EnvData {
  Napi::ObjectReference byCode;
  uint32_t account = 0;
};
using ErrorClasses = EnvData;
// A new external-memory account, for an environment being initialised.
uint32_t newAccount();

// Rethrows the exception in flight as a JS Error "op: first line of libtorch's message", of the
// class registered for its code (set_error_classes), with `code` set.
[[noreturn]] void rethrowAsJs(Napi::Env env, const char* op);

template <typename Body>
Napi::Value guard(const Napi::CallbackInfo& info, const char* op, Body&& body) {
  Args a{info, op};
  try {
    return body(a);
  } catch (...) {
    rethrowAsJs(info.Env(), op);
  }
}

}  // namespace lsr

// The op table (native/ops.table) is the one list of ops: ops.inc, generated from it, declares each
// op here, OP(name) defines one and core.cc registers them all. An OP(name) missing from the table
// fails to compile ("... lsr_ops::op_NAME(...) should have been declared inside 'lsr_ops'"); a table
// op with no OP fails to link ("hidden symbol `lsr_ops::op_NAME...' isn't defined": hidden, the
// symbol must be defined in the addon itself). A namespace of its own, so that op bodies look names
// up as they would at file scope.
namespace lsr_ops {
#define LSR_OP(name) __attribute__((visibility("hidden"))) Napi::Value op_##name(const Napi::CallbackInfo& info);
#include "ops.inc"
#undef LSR_OP
}  // namespace lsr_ops

#define OP(name)                                                        \
  Napi::Value lsr_ops::op_##name(const Napi::CallbackInfo& info) {      \
    return ::lsr::guard(info, #name, [&](::lsr::Args& a) -> Napi::Value {
#define END \
  });       \
  }

// Ops whose whole body is "return a tensor".
#define TENSOR_OP(name, expr) \
  OP(name) { return ::lsr::wrap(a.env(), (expr)); } END
// In-place ops return undefined: the TypeScript side returns `this`.
#define INPLACE_OP(name, expr) \
  OP(name) { (expr); return a.env().Undefined(); } END
