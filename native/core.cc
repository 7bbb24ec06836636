// Handle lifetime, argument readers, the error guard and module init.
#include "common.h"

#include <ATen/ScalarOps.h>
#ifdef LSR_GLOG
#include <glog/logging.h>
#endif

#include <malloc.h>

#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace lsr {

namespace {
// The table is shared by every JS environment of the process (the main thread and each
// worker_thread load the addon once each, and share its globals): a handle made in one thread is
// valid in the others. Every access holds g_mu, uncontended in a single-threaded program (~20 ns
// against the microseconds of an op), and nothing in the table is referenced outside the lock:
// lookups copy the tensor (one reference count), and a released tensor is destroyed after it.
struct Slot {
  at::Tensor tensor;
  int64_t bytes = 0;  // this handle's share of the live bytes (memoryStats)
  uint32_t account = 0;  // 1 + the account of the environment V8 was told of its bytes in (0: none)
  uint32_t gen = 1;
};
std::mutex g_mu;
std::vector<Slot> g_slots;
std::vector<uint32_t> g_free;
int64_t g_live = 0;
int64_t g_bytes = 0;
// V8 is told of the native memory that only the GC might free: handles that left every tidy()
// scope (mark_external), netted in steps of 16 MiB. Reporting every tensor made a forward pass's
// intermediates (gigabytes, made and freed by the scope together) look like memory pressure: V8
// started incremental marking again and again, and its concurrent marking threads took cores
// from libtorch's (resnet50 bf16 inference 14% slower than PyTorch's).
// Each JS environment (isolate) has its own account: V8 is told only from the thread that runs
// that isolate, of the handles marked there. A handle released in another environment leaves its
// account lower, which its own environment reports at its next change.
constexpr int64_t kReportStep = 16 << 20;
struct Account {
  int64_t external = 0;  // bytes of the handles marked in this environment
  int64_t reported = 0;  // what its V8 was last told
  int64_t reportedIncreases = 0;  // the sum of every increase it was told of (tests read it)
};
std::vector<Account> g_accounts;

// The change V8 should be told of now (0 below a step); called with g_mu held.
int64_t pendingReport(Account& acc) {
  int64_t delta = acc.external - acc.reported;
  if (delta < kReportStep && delta > -kReportStep) return 0;
  acc.reported = acc.external;
  if (delta > 0) acc.reportedIncreases += delta;
  return delta;
}

// This environment's account (made by InitModule, which runs once per environment).
uint32_t accountOf(Napi::Env env) {
  auto* data = env.GetInstanceData<EnvData>();
  if (data == nullptr) throw std::logic_error("the addon was not initialised in this environment");
  return data->account;
}

int64_t storageBytes(const at::Tensor& t) {
  if (!t.defined() || !t.has_storage()) return 0;
  return static_cast<int64_t>(t.storage().nbytes());
}

// The live slot a handle names, or nullptr (`valid` false for an id that never named a slot);
// called with g_mu held.
Slot* liveSlot(HandleId id, bool& valid) {
  uint64_t slot = id & 0xffffffffULL;
  uint32_t gen = static_cast<uint32_t>(id >> 32);
  valid = slot < g_slots.size() && gen != 0 && gen <= g_slots[slot].gen;
  if (!valid || g_slots[slot].gen != gen || !g_slots[slot].tensor.defined()) return nullptr;
  return &g_slots[slot];
}
}  // namespace

uint32_t newAccount() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_accounts.emplace_back();
  return static_cast<uint32_t>(g_accounts.size() - 1);
}

int64_t liveTensors() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_live;
}
int64_t liveBytes() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_bytes;
}
ExternalMemory externalMemory() {
  std::lock_guard<std::mutex> lock(g_mu);
  ExternalMemory e{0, 0, 0};
  for (const Account& acc : g_accounts) {
    e.escaped += acc.external;
    e.reported += acc.reported;
    e.reportedIncreases += acc.reportedIncreases;
  }
  return e;
}

bool markExternal(Napi::Env env, HandleId id) {
  uint32_t account = accountOf(env);
  int64_t delta = 0;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    bool valid;
    Slot* s = liveSlot(id, valid);
    if (s == nullptr) return false;
    if (s->account != 0) return true;
    s->account = account + 1;
    g_accounts[account].external += s->bytes;
    delta = pendingReport(g_accounts[account]);
  }
  if (delta != 0) Napi::MemoryManagement::AdjustExternalMemory(env, delta);
  return true;
}

at::Tensor lookup(HandleId id, bool& valid) {
  std::lock_guard<std::mutex> lock(g_mu);
  Slot* s = liveSlot(id, valid);
  return s == nullptr ? at::Tensor() : s->tensor;
}

bool release(Napi::Env env, HandleId id) {
  uint32_t account = accountOf(env);
  int64_t delta = 0;
  at::Tensor freed;  // destroyed after the lock is released
  {
    std::lock_guard<std::mutex> lock(g_mu);
    bool valid;
    Slot* s = liveSlot(id, valid);
    if (s == nullptr) return false;
    freed = std::move(s->tensor);
    s->tensor.reset();
    s->gen = s->gen == UINT32_MAX ? 1 : s->gen + 1;
    g_live--;
    g_bytes -= s->bytes;
    if (s->account != 0) {
      Account& acc = g_accounts[s->account - 1];
      acc.external -= s->bytes;
      if (s->account - 1 == account) delta = pendingReport(acc);
      s->account = 0;
    }
    s->bytes = 0;
    g_free.push_back(static_cast<uint32_t>(id & 0xffffffffULL));
  }
  if (delta != 0) Napi::MemoryManagement::AdjustExternalMemory(env, delta);
  return true;
}

Napi::Value wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Undefined();
  int64_t bytes = storageBytes(t);
  HandleId id;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    uint32_t slot;
    if (!g_free.empty()) {
      slot = g_free.back();
      g_free.pop_back();
    } else {
      if (g_slots.size() >= UINT32_MAX) throw std::runtime_error("too many live tensors");
      slot = static_cast<uint32_t>(g_slots.size());
      g_slots.emplace_back();
    }
    Slot& s = g_slots[slot];
    s.bytes = bytes;
    s.tensor = std::move(t);
    g_live++;
    g_bytes += bytes;
    id = (static_cast<uint64_t>(s.gen) << 32) | slot;
  }
  return Napi::BigInt::New(env, id);
}

Napi::Value wrapList(Napi::Env env, const std::vector<at::Tensor>& ts) {
  auto arr = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) arr.Set(static_cast<uint32_t>(i), wrap(env, ts[i]));
  return arr;
}

// ---- argument readers ----

void Args::fail(size_t i, const std::string& what) const {
  throw Napi::TypeError::New(env(), std::string(op) + ": argument " + std::to_string(i) + " " + what);
}

// The id in a JS value that must be a handle (a BigInt that fits 64 bits); argument i for errors.
static HandleId handleOf(const Args& a, Napi::Value v, size_t i, const std::string& where) {
  if (!v.IsBigInt()) a.fail(i, "must be a tensor" + where);
  bool lossless = false;
  HandleId id = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) a.fail(i, "is not a tensor handle" + where);
  return id;
}

static at::Tensor tensorOf(const Args& a, Napi::Value v, size_t i, const std::string& where) {
  bool valid;
  at::Tensor t = lookup(handleOf(a, v, i, where), valid);
  if (!valid) a.fail(i, "is not a tensor handle" + where);
  if (!t.defined()) a.fail(i, "is a disposed tensor (used after dispose())" + where);
  return t;
}

HandleId Args::handle(size_t i) const {
  if (i >= info.Length()) fail(i, "must be a tensor");
  return handleOf(*this, info[i], i, "");
}

at::Tensor Args::tensor(size_t i) const {
  if (i >= info.Length()) fail(i, "must be a tensor");
  return tensorOf(*this, info[i], i, "");
}

at::Tensor Args::operand(size_t i) const {
  if (isTensor(i)) return tensor(i);
  if (i >= info.Length() || !(info[i].IsNumber() || info[i].IsBoolean()))
    fail(i, "must be a tensor or a number");
  return at::native::wrapped_scalar_tensor(scalar(i));
}

c10::optional<at::Tensor> Args::optTensor(size_t i) const {
  if (absent(i)) return c10::nullopt;
  return tensor(i);
}

at::Tensor Args::element(size_t i, uint32_t k) const {
  return tensorOf(*this, info[i].As<Napi::Array>()[k], i, " (element " + std::to_string(k) + ")");
}

std::vector<at::Tensor> Args::tensors(size_t i) const {
  if (i >= info.Length() || !info[i].IsArray()) fail(i, "must be an array of tensors");
  uint32_t n = info[i].As<Napi::Array>().Length();
  std::vector<at::Tensor> out;
  out.reserve(n);
  for (uint32_t k = 0; k < n; k++) out.push_back(element(i, k));
  return out;
}

double Args::number(size_t i) const {
  if (i >= info.Length() || !info[i].IsNumber()) fail(i, "must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

static bool isSafeInteger(double d) {
  return std::isfinite(d) && std::floor(d) == d && std::fabs(d) <= 9007199254740991.0;
}

int64_t Args::integer(size_t i) const {
  double d = number(i);
  if (!isSafeInteger(d)) fail(i, "must be an integer (got " + std::to_string(d) + ")");
  return static_cast<int64_t>(d);
}

c10::optional<int64_t> Args::optInteger(size_t i) const {
  if (absent(i)) return c10::nullopt;
  return integer(i);
}

bool Args::boolean(size_t i) const {
  if (i >= info.Length() || !info[i].IsBoolean()) fail(i, "must be a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

at::Scalar Args::scalar(size_t i) const {
  if (i < info.Length() && info[i].IsBoolean()) return at::Scalar(info[i].As<Napi::Boolean>().Value());
  double d = number(i);
  // Integral JS numbers stay integral so that int tensors keep their dtype (as Python ints do).
  if (isSafeInteger(d) && !(d == 0 && std::signbit(d))) return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

c10::optional<at::Scalar> Args::optScalar(size_t i) const {
  if (absent(i)) return c10::nullopt;
  return scalar(i);
}

std::vector<double> Args::numbers(size_t i) const {
  if (i >= info.Length() || !info[i].IsArray()) fail(i, "must be an array of numbers");
  auto arr = info[i].As<Napi::Array>();
  std::vector<double> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr[k];
    if (!v.IsNumber()) fail(i, "must be an array of numbers (element " + std::to_string(k) + ")");
    out[k] = v.As<Napi::Number>().DoubleValue();
  }
  return out;
}

std::vector<int64_t> Args::ints(size_t i) const {
  if (i < info.Length() && info[i].IsNumber()) return {integer(i)};
  if (i >= info.Length() || !info[i].IsArray()) fail(i, "must be an array of integers");
  auto arr = info[i].As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value v = arr[k];
    if (!v.IsNumber()) fail(i, "must be an array of integers (element " + std::to_string(k) + ")");
    double d = v.As<Napi::Number>().DoubleValue();
    if (!isSafeInteger(d)) fail(i, "must be an array of integers (element " + std::to_string(k) + ")");
    out[k] = static_cast<int64_t>(d);
  }
  return out;
}

c10::optional<std::vector<int64_t>> Args::optInts(size_t i) const {
  if (absent(i)) return c10::nullopt;
  return ints(i);
}

std::string Args::string(size_t i) const {
  if (i >= info.Length() || !info[i].IsString()) fail(i, "must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

int64_t Args::reduction(size_t i) const {
  std::string r = string(i);
  if (r == "none") return at::Reduction::None;
  if (r == "mean") return at::Reduction::Mean;
  if (r == "sum") return at::Reduction::Sum;
  fail(i, "is an unknown reduction '" + r + "' (none, mean, sum)");
}

static const std::pair<const char*, at::ScalarType> kDtypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"bfloat16", at::kBFloat16}, {"float16", at::kHalf},
    {"int64", at::kLong},    {"int32", at::kInt},      {"int16", at::kShort},       {"int8", at::kChar},
    {"uint8", at::kByte},    {"bool", at::kBool},
};

const char* dtypeName(at::ScalarType t) {
  for (auto& d : kDtypes)
    if (d.second == t) return d.first;
  return c10::toString(t);
}

at::ScalarType Args::dtype(size_t i) const {
  std::string s = string(i);
  for (auto& d : kDtypes)
    if (s == d.first) return d.second;
  fail(i, "is an unknown dtype '" + s + "'");
}

c10::optional<at::ScalarType> Args::optDtype(size_t i) const {
  if (absent(i)) return c10::nullopt;
  return dtype(i);
}

at::Device Args::device(size_t i) const { return at::Device(string(i)); }

at::MemoryFormat Args::memoryFormat(size_t i) const {
  std::string s = string(i);
  if (s == "contiguous") return at::MemoryFormat::Contiguous;
  if (s == "channels_last") return at::MemoryFormat::ChannelsLast;
  if (s == "preserve") return at::MemoryFormat::Preserve;
  fail(i, "is an unknown memory format '" + s + "' (contiguous, channels_last, preserve)");
}

at::TensorOptions Args::options(size_t dtypeArg, size_t deviceArg) const {
  return at::TensorOptions().dtype(dtype(dtypeArg)).device(device(deviceArg));
}

// ---- errors ----

static std::string firstLine(const char* msg) {
  std::string s(msg ? msg : "");
  auto nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s.empty() ? std::string("unknown error") : s;
}

namespace {
Napi::Error codedError(Napi::Env env, const char* code, const std::string& message) {
  auto* classes = env.GetInstanceData<EnvData>();
  if (classes != nullptr && !classes->byCode.IsEmpty()) {
    Napi::Value ctor = classes->byCode.Value().Get(code);
    if (ctor.IsFunction()) return Napi::Error(env, ctor.As<Napi::Function>().New({Napi::String::New(env, message)}));
  }
  auto e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}
}  // namespace

void rethrowAsJs(Napi::Env env, const char* op) {
  try {
    throw;
  } catch (const Napi::Error&) {
    throw;
  } catch (const CodedError& e) {
    throw codedError(env, e.code.c_str(), std::string(op) + ": " + firstLine(e.what()));
  } catch (const c10::Error& e) {
    throw codedError(env, kNative, std::string(op) + ": " + firstLine(e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    throw codedError(env, kNative, std::string(op) + ": out of memory");
  } catch (const std::exception& e) {
    throw codedError(env, kNative, std::string(op) + ": " + firstLine(e.what()));
  } catch (...) {
    throw codedError(env, kNative, std::string(op) + ": unknown native error");
  }
}

}  // namespace lsr

// glibc gives blocks above its mmap threshold (128 KiB rising to 32 MiB) back to the kernel on
// free, so every activation of the next step is faulted in again page by page. On our machine
// that costs ten times the arithmetic of an elementwise op (relu of a 51 MB tensor: 15 ms fresh,
// 1.4 ms in place). Serving large blocks from the heap and never trimming it lets each training
// step reuse the memory of the last one: RSS stays at the peak working set, flat over a run.
// A process-wide setting: configureRuntime() asks for it (the CLI does), importing lsr does not.
OP(keep_freed_memory) {
#ifdef __GLIBC__
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
  return Napi::Boolean::New(a.env(), true);
#else
  return Napi::Boolean::New(a.env(), false);
#endif
}
END

// libtorch's warnings go through glog where libtorch was built with it (Debian's): without this,
// the first one starts with glog's "Logging before InitGoogleLogging() is written to STDERR".
// glog is set to log to stderr, as before, and not to files; no signal handler is installed.
#ifdef LSR_GLOG
static void initTorchLogging() {
  if (google::IsGoogleLoggingInitialized()) return;
  FLAGS_logtostderr = true;
  google::InitGoogleLogging("lsr");
}
#else
static void initTorchLogging() {}
#endif

// Every op of the table (native/ops.table, through the generated ops.inc), under its name.
static const struct {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
} kOps[] = {
#define LSR_OP(name) {#name, lsr_ops::op_##name},
#include "ops.inc"
#undef LSR_OP
};

// Runs once per JS environment: the main thread's and each worker_thread's. Process-wide state
// (the handle table, glog) is set up once and shared, never reset here.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  static std::once_flag logging;
  std::call_once(logging, initTorchLogging);
  auto* data = new lsr::EnvData();
  data->account = lsr::newAccount();
  env.SetInstanceData(data);
  for (auto& op : kOps) exports.Set(op.name, Napi::Function::New(env, op.fn, op.name));
  return exports;
}

NODE_API_MODULE(lsr_native, InitModule)
