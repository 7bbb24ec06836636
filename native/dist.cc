// Data-parallel collectives on libtorch's c10d engine: a TCPStore rendezvous (rank 0 hosts it,
// as torchrun's conventions put it at MASTER_ADDR:MASTER_PORT), a Gloo process group, coalesced
// all-reduce / broadcast / all-gather, a heartbeat that lets a survivor name a lost rank, and
// synchronised BatchNorm as an autograd function. One process group per process.
//
// DDP's c10d::Reducer (all-reduce overlapping backward) is in libtorch_cpu, but its header
// includes torch/csrc/distributed/autograd, which Debian's libtorch-dev does not ship; the
// gradients are therefore all-reduced after backward, in buckets issued together.
#include "common.h"

#ifdef LSR_GLOO
#define USE_C10D_GLOO 1
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#endif

using lsr::wrap;

#ifndef LSR_GLOO
#define NO_GLOO \
  throw std::runtime_error("this build of lsr has no distributed support: Gloo's headers were not found when the addon was built (Debian: apt-get install libgloo-dev, then npm run build:native)")
OP(dist_available) { return Napi::Boolean::New(a.env(), false); } END
OP(dist_init) { NO_GLOO; } END
OP(dist_destroy) { return a.env().Undefined(); } END
OP(dist_allreduce) { NO_GLOO; } END
OP(dist_broadcast) { NO_GLOO; } END
OP(dist_allgather) { NO_GLOO; } END
OP(dist_barrier) { NO_GLOO; } END
OP(dist_liveness) { NO_GLOO; } END
OP(sync_batch_norm) { NO_GLOO; } END
OP(ddp_reducer_create) { NO_GLOO; } END
OP(ddp_reducer_prepare) { NO_GLOO; } END
OP(ddp_reducer_finish) { NO_GLOO; } END
OP(ddp_reducer_dispose) { return Napi::Boolean::New(a.env(), false); } END
OP(ddp_reducer_stats) {
  auto o = Napi::Object::New(a.env());
  o.Set("reducers", 0);
  o.Set("bytes", 0);
  return o;
} END
#else

namespace {
using namespace std::chrono;

struct Dist {
  std::string host;
  uint16_t port = 0;
  int rank = 0;
  int world = 1;
  milliseconds timeout{0};
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::thread heartbeat;
  std::atomic<bool> stop{false};
};
// Deliberately never freed at exit: after a lost peer, destroying a process group can block on
// its worker threads; the process is ending anyway.
Dist* g_dist = nullptr;

Dist& dist() {
  if (!g_dist) throw std::runtime_error("no process group: call initProcessGroup() first");
  return *g_dist;
}

c10::intrusive_ptr<c10d::Store> connect(const std::string& host, uint16_t port, bool server, int world, milliseconds timeout) {
  c10d::TCPStoreOptions o;
  o.port = port;
  o.isServer = server;
  if (server) o.numWorkers = world;
  o.waitWorkers = false;
  o.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(host, o);
}

std::string hbKey(int rank) { return "lsr/heartbeat/" + std::to_string(rank); }

void waitAll(std::vector<c10::intrusive_ptr<c10d::Work>>& works, milliseconds timeout) {
  for (auto& w : works) w->wait(timeout);
}

// Tensors grouped into runs of one dtype of at most `cap` bytes: the buckets of a coalesced call.
std::vector<std::vector<at::Tensor>> buckets(const std::vector<at::Tensor>& ts, int64_t cap) {
  std::vector<std::vector<at::Tensor>> out;
  int64_t bytes = 0;
  for (const auto& t : ts) {
    int64_t b = static_cast<int64_t>(t.numel() * t.element_size());
    if (out.empty() || out.back().front().scalar_type() != t.scalar_type() || bytes + b > cap) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(t);
    bytes += b;
  }
  return out;
}

at::Tensor flat(const std::vector<at::Tensor>& ts) {
  std::vector<at::Tensor> views;
  for (const auto& t : ts) views.push_back(t.detach().reshape({-1}));
  return at::cat(views);
}

void unflatten(const at::Tensor& flatT, std::vector<at::Tensor>& ts) {
  at::NoGradGuard ng;
  int64_t off = 0;
  for (auto& t : ts) {
    int64_t n = t.numel();
    t.detach().copy_(flatT.narrow(0, off, n).view(t.sizes()));
    off += n;
  }
}

c10d::ReduceOp reduceOp(const std::string& op, const lsr::Args& a, size_t i) {
  if (op == "sum" || op == "mean") return c10d::ReduceOp::SUM;
  if (op == "max") return c10d::ReduceOp::MAX;
  if (op == "min") return c10d::ReduceOp::MIN;
  a.fail(i, "is an unknown reduction '" + op + "' (sum, mean, max, min)");
}

// All-reduce of a few per-channel statistics, in place.
void allreduceSum(at::Tensor& t) {
  Dist& d = dist();
  std::vector<at::Tensor> v{t};
  auto w = d.pg->allreduce(v);
  w->wait(d.timeout);
}
}  // namespace

OP(dist_available) { return Napi::Boolean::New(a.env(), true); } END

// dist_init(host, port, rank, worldSize, timeoutMs, ifname: "" for none): the rendezvous. Blocks until every
// rank has connected (or the timeout passes).
OP(dist_init) {
  if (g_dist) throw std::runtime_error("a process group is already initialised in this process");
  std::string host = a.string(0);
  int64_t port = a.integer(1), rank = a.integer(2), world = a.integer(3), timeoutMs = a.integer(4);
  if (port < 1 || port > 65535) a.fail(1, "must be a port number in 1..65535");
  if (world < 1) a.fail(3, "must be ≥ 1");
  if (rank < 0 || rank >= world) a.fail(2, "must be in 0.." + std::to_string(world - 1));
  if (timeoutMs < 1) a.fail(4, "must be ≥ 1 ms");
  std::string ifname = a.string(5);
  auto d = std::make_unique<Dist>();
  d->host = host;
  d->port = static_cast<uint16_t>(port);
  d->rank = static_cast<int>(rank);
  d->world = static_cast<int>(world);
  d->timeout = milliseconds(timeoutMs);
  d->store = connect(host, d->port, rank == 0, d->world, d->timeout);
  auto opts = c10d::ProcessGroupGloo::Options::create(d->timeout);
  if (!ifname.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  else if (host == "localhost" || host.rfind("127.", 0) == 0) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>("lsr/gloo", d->store);
  d->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, d->rank, d->world, opts);
  char hostname[256] = {0};
  gethostname(hostname, sizeof hostname - 1);
  std::string who = std::string(hostname) + " pid " + std::to_string(getpid());
  d->store->set("lsr/who/" + std::to_string(rank), std::vector<uint8_t>(who.begin(), who.end()));
  d->store->add(hbKey(d->rank), 1);
  // The heartbeat: a counter in the store that a live rank advances every 200 ms, on a
  // connection of its own (a store client is not shared between threads).
  Dist* raw = d.get();
  auto hbStore = connect(host, d->port, false, d->world, d->timeout);
  d->heartbeat = std::thread([raw, hbStore]() {
    try {
      while (!raw->stop.load()) {
        hbStore->add(hbKey(raw->rank), 1);
        for (int i = 0; i < 4 && !raw->stop.load(); i++) std::this_thread::sleep_for(milliseconds(50));
      }
    } catch (...) {
      // The store is gone (rank 0 ended): nothing left to tell.
    }
  });
  g_dist = d.release();
  return a.env().Undefined();
} END

// dist_destroy(): an orderly end (every rank finished); after a failure the process just exits.
OP(dist_destroy) {
  if (!g_dist) return a.env().Undefined();
  Dist* d = g_dist;
  g_dist = nullptr;
  d->stop = true;
  if (d->heartbeat.joinable()) d->heartbeat.join();
  d->pg.reset();
  d->store.reset();
  delete d;
  return a.env().Undefined();
} END

// Tensors flattened into buckets, `issue` started on each (all in flight together, as Gloo
// pipelines them), waited for, then `finish` given each bucket's flat result and its tensors.
template <typename Issue, typename Finish>
void coalesced(const std::vector<at::Tensor>& ts, int64_t cap, Issue issue, Finish finish) {
  Dist& d = dist();
  auto bs = buckets(ts, cap);
  std::vector<at::Tensor> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto& b : bs) {
    flats.push_back(flat(b));
    std::vector<at::Tensor> v{flats.back()};
    works.push_back(issue(v));
  }
  waitAll(works, d.timeout);
  for (size_t i = 0; i < bs.size(); i++) finish(flats[i], bs[i]);
}

// dist_allreduce(tensors, op, bucketBytes): in place, coalesced into buckets issued together;
// 'mean' divides the sums by the world size.
OP(dist_allreduce) {
  Dist& d = dist();
  std::string opName = a.string(1);
  c10d::AllreduceOptions o;
  o.reduceOp = reduceOp(opName, a, 1);
  coalesced(
      a.tensors(0), a.integer(2), [&](std::vector<at::Tensor>& v) { return d.pg->allreduce(v, o); },
      [&](at::Tensor& f, std::vector<at::Tensor>& b) {
        if (opName == "mean") f.div_(d.world);
        unflatten(f, b);
      });
  return a.env().Undefined();
} END

// dist_broadcast(tensors, root): in place, coalesced.
OP(dist_broadcast) {
  Dist& d = dist();
  int64_t root = a.integer(1);
  if (root < 0 || root >= d.world) a.fail(1, "must be a rank in 0.." + std::to_string(d.world - 1));
  c10d::BroadcastOptions o;
  o.rootRank = root;
  coalesced(
      a.tensors(0), 25 << 20, [&](std::vector<at::Tensor>& v) { return d.pg->broadcast(v, o); },
      [&](at::Tensor& f, std::vector<at::Tensor>& b) { unflatten(f, b); });
  return a.env().Undefined();
} END

// dist_allgather(t): [world, ...t.shape], every rank's tensor (same shape and dtype on all).
OP(dist_allgather) {
  Dist& d = dist();
  at::Tensor t = a.tensor(0).detach().contiguous();
  std::vector<int64_t> sizes{d.world};
  for (auto n : t.sizes()) sizes.push_back(n);
  at::Tensor out = at::empty(sizes, t.options());
  std::vector<std::vector<at::Tensor>> outs(1);
  for (int r = 0; r < d.world; r++) outs[0].push_back(out[r]);
  std::vector<at::Tensor> in{t};
  auto w = d.pg->allgather(outs, in);
  w->wait(d.timeout);
  return wrap(a.env(), out);
} END

OP(dist_barrier) {
  Dist& d = dist();
  auto w = d.pg->barrier();
  w->wait(d.timeout);
  return a.env().Undefined();
} END

// dist_liveness(waitMs): after a failed collective, which ranks still beat. Reads every rank's
// heartbeat counter twice, waitMs apart, on a fresh connection. Returns [{rank, alive, who}];
// throws if the store (hosted by rank 0) cannot be reached.
OP(dist_liveness) {
  if (!g_dist) throw std::runtime_error("no process group");
  Dist& d = *g_dist;
  int64_t waitMs = a.integer(0);
  auto s = connect(d.host, d.port, false, d.world, milliseconds(std::max<int64_t>(2000, waitMs)));
  std::vector<int64_t> before(d.world);
  for (int r = 0; r < d.world; r++) before[r] = s->add(hbKey(r), 0);
  std::this_thread::sleep_for(milliseconds(waitMs));
  auto arr = Napi::Array::New(a.env(), d.world);
  for (int r = 0; r < d.world; r++) {
    int64_t after = s->add(hbKey(r), 0);
    auto o = Napi::Object::New(a.env());
    o.Set("rank", r);
    o.Set("alive", after > before[r]);
    std::string key = "lsr/who/" + std::to_string(r);
    std::string who;
    if (s->check({key})) {
      auto v = s->get(key);
      who.assign(v.begin(), v.end());
    }
    o.Set("who", who);
    arr.Set(static_cast<uint32_t>(r), o);
  }
  return arr;
} END

namespace {
// DDP's reducer, in small: each parameter's gradient is copied into its bucket's flat buffer by a
// hook the moment backward produces it, and a full bucket's all-reduce starts at once (buckets in
// a fixed order on every rank), so communication overlaps the rest of backward. finish() waits,
// averages and writes the gradients back.
struct Reducer {
  std::vector<at::Tensor> params;
  std::vector<std::pair<size_t, unsigned>> hooks;  // (parameter, hook position) to remove on release
  std::vector<std::vector<size_t>> buckets;  // parameter indices, in the order backward readies them
  std::vector<size_t> bucketOf, offsetOf;
  std::vector<at::Tensor> flats;
  std::vector<int64_t> pending;
  std::vector<bool> got;
  std::vector<bool> member;  // in a bucket (it requires grad)
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  size_t next = 0;  // the next bucket to launch
  bool armed = false;

  void launchReady() {
    while (next < buckets.size() && pending[next] == 0) {
      std::vector<at::Tensor> v{flats[next]};
      works[next] = dist().pg->allreduce(v);
      next++;
    }
  }

  void ready(size_t i, const at::Tensor& grad) {
    if (!armed || got[i]) return;
    got[i] = true;
    at::NoGradGuard ng;
    at::Tensor slot = flats[bucketOf[i]].narrow(0, offsetOf[i], params[i].numel()).view(params[i].sizes());
    slot.copy_(grad);
    // A hook runs before the gradient is accumulated: what earlier backwards left (micro-batches
    // under no_sync) joins this one, so that the average is of the whole batch's gradient.
    const at::Tensor& accumulated = params[i].grad();
    if (accumulated.defined()) slot.add_(accumulated);
    pending[bucketOf[i]]--;
    launchReady();
  }

  void arm() {
    for (size_t b = 0; b < buckets.size(); b++) pending[b] = static_cast<int64_t>(buckets[b].size());
    for (size_t i = 0; i < got.size(); i++) got[i] = !member[i];
    std::fill(works.begin(), works.end(), c10::intrusive_ptr<c10d::Work>());
    next = 0;
    armed = true;
  }

  void finish() {
    if (!armed) throw std::runtime_error("ddp_reducer_finish: no backward was prepared (call ddp_reducer_prepare first)");
    armed = false;
    // Parameters backward did not reach contribute zeros (the same on every rank for one graph).
    for (size_t i = 0; i < params.size(); i++)
      if (!got[i]) {
        flats[bucketOf[i]].narrow(0, offsetOf[i], params[i].numel()).zero_();
        pending[bucketOf[i]]--;
      }
    launchReady();
    Dist& d = dist();
    at::NoGradGuard ng;
    for (size_t b = 0; b < buckets.size(); b++) {
      works[b]->wait(d.timeout);
      flats[b].div_(d.world);
      for (size_t i : buckets[b]) {
        at::Tensor avg = flats[b].narrow(0, offsetOf[i], params[i].numel()).view(params[i].sizes());
        at::Tensor& g = params[i].mutable_grad();
        if (g.defined()) g.copy_(avg);
        else if (got[i]) g = avg.clone(at::MemoryFormat::Preserve);
      }
    }
  }

  // Takes the hooks off the parameters and drops every tensor: the parameters (the model's, which
  // the reducer kept alive), the buckets and any collective in flight.
  void release() {
    for (auto [k, pos] : hooks) params[k].remove_hook(pos);
    hooks.clear();
    armed = false;
    works.clear();
    flats.clear();
    params.clear();
  }

  int64_t bytes() const {
    int64_t n = 0;
    for (const auto& f : flats) n += static_cast<int64_t>(f.storage().nbytes());
    return n;
  }
};
// By id; a disposed reducer leaves a null entry (its id is never reused). The hooks hold weak
// references, so a hook that outlives its reducer does nothing.
std::mutex g_reducersMu;
std::vector<std::shared_ptr<Reducer>> g_reducers;

std::shared_ptr<Reducer> reducer(int64_t id) {
  std::lock_guard<std::mutex> lock(g_reducersMu);
  if (id < 0 || id >= static_cast<int64_t>(g_reducers.size())) throw std::runtime_error("no such reducer " + std::to_string(id));
  if (!g_reducers[id]) throw std::runtime_error("reducer " + std::to_string(id) + " was disposed");
  return g_reducers[id];
}
}  // namespace

// ddp_reducer_create(params, bucketBytes, firstBucketBytes) -> id. Buckets follow the reverse of
// the parameters' order (backward's), the first one small so that communication starts early.
OP(ddp_reducer_create) {
  dist();
  auto params = a.tensors(0);
  int64_t cap = a.integer(1), firstCap = a.integer(2);
  auto r = std::make_shared<Reducer>();
  r->params = params;
  r->bucketOf.resize(params.size());
  r->offsetOf.resize(params.size());
  r->got.resize(params.size());
  r->member.resize(params.size());
  int64_t bytes = 0, offset = 0;
  for (size_t k = params.size(); k-- > 0;) {
    const at::Tensor& p = params[k];
    if (!p.requires_grad()) continue;
    int64_t b = static_cast<int64_t>(p.numel() * p.element_size());
    int64_t limit = r->buckets.size() <= 1 ? firstCap : cap;
    if (r->buckets.empty() || params[r->buckets.back().front()].scalar_type() != p.scalar_type() || (bytes + b > limit && bytes > 0)) {
      if (!r->buckets.empty()) r->flats.push_back(at::empty({offset}, params[r->buckets.back().front()].options().requires_grad(false)));
      r->buckets.emplace_back();
      bytes = 0;
      offset = 0;
    }
    r->buckets.back().push_back(k);
    r->member[k] = true;
    r->bucketOf[k] = r->buckets.size() - 1;
    r->offsetOf[k] = offset;
    bytes += b;
    offset += p.numel();
  }
  if (!r->buckets.empty()) r->flats.push_back(at::empty({offset}, params[r->buckets.back().front()].options().requires_grad(false)));
  r->pending.resize(r->buckets.size());
  r->works.resize(r->buckets.size());
  std::weak_ptr<Reducer> weak = r;
  for (auto& bucket : r->buckets)
    for (size_t k : bucket) {
      unsigned pos = params[k].register_hook([weak, k](const at::Tensor& grad) {
        if (auto live = weak.lock()) live->ready(k, grad);
      });
      r->hooks.emplace_back(k, pos);
    }
  std::lock_guard<std::mutex> lock(g_reducersMu);
  g_reducers.push_back(std::move(r));
  return Napi::Number::New(a.env(), static_cast<double>(g_reducers.size() - 1));
} END

// ddp_reducer_prepare(id): the next backward's gradients are reduced as they come.
OP(ddp_reducer_prepare) {
  reducer(a.integer(0))->arm();
  return a.env().Undefined();
} END

// ddp_reducer_finish(id): after backward, every gradient becomes the mean over ranks.
OP(ddp_reducer_finish) {
  reducer(a.integer(0))->finish();
  return a.env().Undefined();
} END

// ddp_reducer_dispose(id) -> whether it was live: frees the reducer, its buckets and its hold on
// the parameters (idempotent).
OP(ddp_reducer_dispose) {
  int64_t id = a.integer(0);
  std::shared_ptr<Reducer> r;
  {
    std::lock_guard<std::mutex> lock(g_reducersMu);
    if (id < 0 || id >= static_cast<int64_t>(g_reducers.size())) throw std::runtime_error("no such reducer " + std::to_string(id));
    r.swap(g_reducers[id]);
  }
  if (r) r->release();
  return Napi::Boolean::New(a.env(), static_cast<bool>(r));
} END

// ddp_reducer_stats() -> { reducers, bytes }: the live reducers and their buckets' bytes.
OP(ddp_reducer_stats) {
  int64_t live = 0, bytes = 0;
  {
    std::lock_guard<std::mutex> lock(g_reducersMu);
    for (const auto& r : g_reducers)
      if (r) {
        live++;
        bytes += r->bytes();
      }
  }
  auto o = Napi::Object::New(a.env());
  o.Set("reducers", Napi::Number::New(a.env(), static_cast<double>(live)));
  o.Set("bytes", Napi::Number::New(a.env(), static_cast<double>(bytes)));
  return o;
} END

namespace {
// BatchNorm over the batch of every rank: the statistics (sum, then squared deviations from the
// global mean) and, in backward, the two per-channel sums of the input gradient's formula are
// all-reduced. Computed in float32 for float32 and lower (autocast may hand it bf16), float64 kept.
struct SyncBatchNorm : torch::autograd::Function<SyncBatchNorm> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            at::Tensor runningMean, at::Tensor runningVar, double momentum, double eps) {
    const int64_t C = x.size(1);
    std::vector<int64_t> dims{0};
    for (int64_t i = 2; i < x.dim(); i++) dims.push_back(i);
    std::vector<int64_t> shape(x.dim(), 1);
    shape[1] = C;
    // float32 statistics for float32 and lower precisions; float64 stays float64.
    const auto ct = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    at::Tensor xf = x.to(ct);
    at::Tensor sums = at::cat({xf.sum(dims), at::full({1}, static_cast<double>(x.numel() / C), xf.options())});
    allreduceSum(sums);
    const double count = sums[C].item<double>();
    at::Tensor mean = sums.narrow(0, 0, C) / count;
    at::Tensor centered = xf - mean.view(shape);
    at::Tensor sq = centered.pow(2).sum(dims);
    allreduceSum(sq);
    at::Tensor var = sq / count;
    at::Tensor invstd = (var + eps).rsqrt();
    at::Tensor xhat = centered * invstd.view(shape);
    at::Tensor w = weight.defined() ? weight.to(ct) : at::ones({C}, xf.options());
    at::Tensor y = xhat * w.view(shape);
    if (bias.defined()) y = y + bias.to(ct).view(shape);
    if (runningMean.defined()) {
      at::NoGradGuard ng;
      runningMean.mul_(1 - momentum).add_(mean.to(runningMean.scalar_type()), momentum);
      runningVar.mul_(1 - momentum).add_((var * (count / std::max(1.0, count - 1))).to(runningVar.scalar_type()), momentum);
    }
    ctx->save_for_backward({xhat, invstd, w});
    ctx->saved_data["count"] = count;
    ctx->saved_data["dtype"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["hasWeight"] = weight.defined();
    ctx->saved_data["hasBias"] = bias.defined();
    return y.to(x.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    at::Tensor xhat = saved[0], invstd = saved[1], w = saved[2];
    const double count = ctx->saved_data["count"].toDouble();
    const int64_t C = xhat.size(1);
    std::vector<int64_t> dims{0};
    for (int64_t i = 2; i < xhat.dim(); i++) dims.push_back(i);
    std::vector<int64_t> shape(xhat.dim(), 1);
    shape[1] = C;
    at::Tensor dy = grads[0].to(xhat.scalar_type());
    at::Tensor sumDy = dy.sum(dims);
    at::Tensor sumDyXhat = (dy * xhat).sum(dims);
    // The affine parameters' gradients stay local: DDP averages them with the others.
    at::Tensor gradW = ctx->saved_data["hasWeight"].toBool() ? sumDyXhat.clone() : at::Tensor();
    at::Tensor gradB = ctx->saved_data["hasBias"].toBool() ? sumDy.clone() : at::Tensor();
    at::Tensor both = at::cat({sumDy, sumDyXhat});
    allreduceSum(both);
    at::Tensor meanDy = both.narrow(0, 0, C) / count;
    at::Tensor meanDyXhat = both.narrow(0, C, C) / count;
    at::Tensor dx = (dy - meanDy.view(shape) - xhat * meanDyXhat.view(shape)) * (invstd * w).view(shape);
    auto dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    return {dx.to(dtype), gradW, gradB, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};
}  // namespace

// sync_batch_norm(x, weight?, bias?, running_mean?, running_var?, momentum, eps): training mode.
OP(sync_batch_norm) {
  at::Tensor x = a.tensor(0);
  if (x.dim() < 2) throw std::runtime_error("expected an input of at least 2 dimensions (N, C, ...), got shape " + c10::str(x.sizes()));
  auto opt = [&](size_t i) { return a.absent(i) ? at::Tensor() : a.tensor(i); };
  return wrap(a.env(), SyncBatchNorm::apply(x, opt(1), opt(2), opt(3), opt(4), a.number(5), a.number(6)));
} END

#endif
