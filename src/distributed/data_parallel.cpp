// c10d process groups and bucketed, overlapped gradient all-reduce, or under
// sharding reduce-scatter of gradients and all-gather of parameters.
#include "distributed/data_parallel.h"

#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef SCALEBED_WITH_CUDA
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "util/error.h"
#include "util/exit_codes.h"

namespace scalebed {
namespace {

// Where Gloo listens: the interfaces GLOO_SOCKET_IFNAME lists (as PyTorch's
// Python front end reads it), else the address on the route to the
// rendezvous host. `described` says which, for the log and errors.
std::vector<std::shared_ptr<::gloo::transport::Device>> gloo_devices(const RankInfo& ranks,
                                                                     std::string& described) {
  std::vector<std::shared_ptr<::gloo::transport::Device>> devices;
  const char* ifnames = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifnames && *ifnames) {
    std::string list = ifnames;
    described = "Gloo on GLOO_SOCKET_IFNAME=" + list;
    for (size_t start = 0; start <= list.size();) {
      const size_t comma = std::min(list.find(',', start), list.size());
      const std::string name = list.substr(start, comma - start);
      if (!name.empty()) devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
      start = comma + 1;
    }
    if (devices.empty()) fail_at("GLOO_SOCKET_IFNAME", "names no interface: '", list, "'");
    return devices;
  }
  const std::string address = local_address_towards(ranks.master_addr);
  described = "Gloo on " + address + " (the route to " + ranks.master_addr + ")";
  devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(address));
  return devices;
}

// Ends the process when joining takes longer than `limit`: Gloo's connect
// can wait several of its timeouts for a peer that is gone (measured: about
// 5x), and a job must not. Nothing has been trained or written by then.
class JoinDeadline {
 public:
  JoinDeadline(std::chrono::milliseconds limit, std::string message)
      : watcher_([this, limit, message = std::move(message)] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!done_cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "error: %s\n", message.c_str());
            std::fflush(stderr);
            std::_Exit(kExitError);
          }
        }) {}
  ~JoinDeadline() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    watcher_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread watcher_;  // last: starts once the members above exist
};

}  // namespace

ShardMode parse_shard_mode(const std::string& name) {
  if (name == "none") return ShardMode::kNone;
  if (name == "optimizer") return ShardMode::kOptimizer;
  if (name == "gradients") return ShardMode::kGradients;
  fail_at("distributed.shard", "unknown mode '", name, "' (none, optimizer or gradients)");
}

const char* shard_mode_name(ShardMode mode) {
  switch (mode) {
    case ShardMode::kNone:
      return "none";
    case ShardMode::kOptimizer:
      return "optimizer";
    case ShardMode::kGradients:
      return "gradients";
  }
  return "?";
}

DataParallel::DataParallel(const RankInfo& ranks, const torch::Device& device,
                           std::vector<torch::Tensor> params, double bucket_mb,
                           std::chrono::milliseconds timeout, ShardMode shard)
    : ranks_(ranks), device_(device), params_(std::move(params)), shard_(shard) {
  const std::string who =
      "rank " + std::to_string(ranks.rank) + " of " + std::to_string(ranks.world);
  // The rendezvous and the connect each get `timeout`; joining gets both.
  char limit[160];
  std::snprintf(limit, sizeof limit,
                "%s: could not join the other ranks within 2 x distributed.timeout_s = %g s (a "
                "rank died, or the ranks cannot reach each other)",
                who.c_str(), 2 * timeout.count() / 1000.0);
  JoinDeadline deadline(2 * timeout, limit);
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(ranks.master_port);
  so.isServer = ranks.rank == 0;
  so.numWorkers = ranks.world;
  so.waitWorkers = true;
  so.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(ranks.master_addr, so);
  } catch (const std::exception& e) {
    fail_at(ranks.master_addr + ":" + std::to_string(ranks.master_port), "rank ", ranks.rank,
            " could not join the rendezvous of ", ranks.world, " ranks: ", e.what());
  }
  try {
    if (device.is_cuda()) {
#ifdef SCALEBED_WITH_CUDA
      // NCCL finds its own interfaces (NCCL_SOCKET_IFNAME steers it).
      transport_ = "NCCL on " + device.str();
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      auto nccl =
          c10::make_intrusive<c10d::ProcessGroupNCCL>(store, ranks.rank, ranks.world, options);
      // Bound to this rank's GPU (as init_process_group(device_id=...) binds it)
      // and connected now, inside the join deadline, rather than lazily at the
      // first all-reduce, where a missing peer would surface mid-training.
      nccl->setBoundDeviceId(device);
      nccl->eagerConnectSingleDevice(device);
      backend_ = nccl;
#else
      fail_at("device", "CUDA data parallelism needs a CUDA build of LibTorch");
#endif
    } else {
      auto options = c10d::ProcessGroupGloo::Options::create();
      options->timeout = timeout;
      options->devices = gloo_devices(ranks, transport_);
      backend_ =
          c10::make_intrusive<c10d::ProcessGroupGloo>(store, ranks.rank, ranks.world, options);
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
    fail_at(who, "could not connect the process group (", transport_,
            "): ", c10_error ? c10_error->what_without_backtrace() : e.what(),
            device.is_cuda() ? "" : "; GLOO_SOCKET_IFNAME=<interface> chooses where Gloo listens");
  }

  // Buckets in reverse parameter order: gradients arrive roughly last-layer
  // first, so the first bucket fills (and is reduced) while backward goes on.
  const int64_t bucket_bytes = static_cast<int64_t>(bucket_mb * 1024 * 1024);
  bucket_of_.resize(params_.size());
  for (size_t k = params_.size(); k-- > 0;) {
    const int64_t bytes = params_[k].numel() * params_[k].element_size();
    if (buckets_.empty() ||
        buckets_.back().numel * params_[k].element_size() + bytes > bucket_bytes) {
      buckets_.emplace_back();
    }
    buckets_.back().params.push_back(k);
    buckets_.back().offsets.push_back(buckets_.back().numel);
    buckets_.back().numel += params_[k].numel();
    bucket_of_[k] = buckets_.size() - 1;
  }
  for (auto& b : buckets_) {
    const auto options = params_[b.params.front()].options();
    if (sharded()) {
      b.chunk = (b.numel + ranks_.world - 1) / ranks_.world;
      b.shard = torch::zeros({b.chunk}, options);
    } else {
      b.buffer = torch::zeros({b.numel}, options);
    }
    b.pending = static_cast<int>(b.params.size());
  }
  // A post-hook on each parameter's gradient accumulator: it fires once the
  // micro-step's gradient has been added into .grad().
  for (size_t k = 0; k < params_.size(); ++k) {
    auto acc = torch::autograd::impl::grad_accumulator(params_[k]);
    acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [this, k](const torch::autograd::variable_list& outputs,
                  const torch::autograd::variable_list&) {
          on_gradient_ready(k);
          return outputs;
        }));
    accumulators_.push_back(std::move(acc));
  }
}

DataParallel::~DataParallel() = default;

void DataParallel::broadcast_parameters() {
  torch::NoGradGuard no_grad;
  for (auto& p : params_) {
    std::vector<at::Tensor> t{p.data()};
    backend_->broadcast(t)->wait();
  }
}

void DataParallel::set_final_micro_step(bool final) {
  if (final) launched_in_backward_ = 0;
  final_micro_step_ = final;
  for (auto& b : buckets_) b.pending = static_cast<int>(b.params.size());
}

void DataParallel::on_gradient_ready(size_t param) {
  // Gradients keep accumulating locally until the final micro-step, except
  // under gradient sharding, where every micro-step's leave at once.
  if (!final_micro_step_ && shard_ != ShardMode::kGradients) return;
  const size_t index = bucket_of_[param];
  Bucket& b = buckets_[index];
  if (--b.pending == 0) {
    if (sharded()) {
      launch_sharded(index);
    } else {
      launch(b);
    }
    if (final_micro_step_) ++launched_in_backward_;
  }
}

void DataParallel::launch(Bucket& b) {
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (size_t k : b.params) {
    const auto& g = params_[k].grad();
    const int64_t n = params_[k].numel();
    if (g.defined()) {
      b.buffer.narrow(0, offset, n).copy_(g.reshape({-1}));
    } else {
      b.buffer.narrow(0, offset, n).zero_();  // unused this step: contributes zero
    }
    offset += n;
  }
  std::vector<at::Tensor> t{b.buffer};
  b.work = backend_->allreduce(t);
}

void DataParallel::launch_sharded(size_t index) {
  torch::NoGradGuard no_grad;
  Bucket& b = buckets_[index];
  // The same bucket from an earlier micro-step first, then the oldest ones,
  // so that no more than kShardBucketsInFlight send buffers exist at once.
  auto retire = [this](size_t i) {
    complete_sharded(i);
    in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), i));
  };
  if (b.work) retire(index);
  while (static_cast<int>(in_flight_.size()) >= kShardBucketsInFlight) retire(in_flight_.front());
  b.send = torch::zeros({b.chunk * ranks_.world}, b.shard.options());
  for (size_t i = 0; i < b.params.size(); ++i) {
    auto& p = params_[b.params[i]];
    if (!p.grad().defined()) continue;  // unused this step: contributes zero
    b.send.narrow(0, b.offsets[i], p.numel()).copy_(p.grad().reshape({-1}));
    p.mutable_grad() = torch::Tensor();  // the full gradient is not kept
  }
  b.recv = torch::empty({b.chunk}, b.shard.options());
  b.work = backend_->_reduce_scatter_base(b.recv, b.send);
  if (final_micro_step_) b.launched_final = true;
  in_flight_.push_back(index);
}

void DataParallel::complete_sharded(size_t index) {
  Bucket& b = buckets_[index];
  b.work->wait();
  b.work.reset();
  if (b.reduced++ == 0) {
    b.shard.copy_(b.recv);
  } else {
    b.shard.add_(b.recv);
  }
  b.send = torch::Tensor();
  b.recv = torch::Tensor();
}

std::vector<ShardRange> DataParallel::ranges_of(int rank) const {
  SB_CHECK(sharded() && rank >= 0 && rank < ranks_.world);
  std::vector<ShardRange> ranges;
  for (size_t k = 0; k < params_.size(); ++k) {
    const Bucket& b = buckets_[bucket_of_[k]];
    const size_t i = std::find(b.params.begin(), b.params.end(), k) - b.params.begin();
    const int64_t chunk_begin = rank * b.chunk;
    const int64_t begin = std::max(b.offsets[i], chunk_begin);
    const int64_t end = std::min(b.offsets[i] + params_[k].numel(), chunk_begin + b.chunk);
    if (begin < end) ranges.push_back({k, begin - b.offsets[i], end - begin});
  }
  return ranges;
}

std::vector<ParamShard> DataParallel::owned_shards(const std::vector<std::string>& names) const {
  SB_CHECK(names.size() == params_.size());
  std::vector<ParamShard> shards;
  for (const ShardRange& r : ranges_of(ranks_.rank)) {
    const Bucket& b = buckets_[bucket_of_[r.param]];
    const size_t i = std::find(b.params.begin(), b.params.end(), r.param) - b.params.begin();
    const int64_t in_chunk = b.offsets[i] + r.offset - ranks_.rank * b.chunk;
    shards.push_back({names[r.param],
                      params_[r.param].detach().view({-1}).narrow(0, r.offset, r.numel),
                      b.shard.narrow(0, in_chunk, r.numel), r.offset});
  }
  return shards;
}

torch::Tensor DataParallel::global_norm(const torch::Tensor& local_norm) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> t{(local_norm * local_norm).reshape({1}).to(torch::kFloat32)};
  backend_->allreduce(t)->wait();
  return t[0].sqrt().reshape({});
}

void DataParallel::gather_parameters() {
  torch::NoGradGuard no_grad;
  struct Gather {
    size_t bucket;
    torch::Tensor send, full;  // alive until the work is done
    c10::intrusive_ptr<c10d::Work> work;
  };
  std::vector<Gather> in_flight;
  auto finish = [this](Gather& g) {
    g.work->wait();
    const Bucket& b = buckets_[g.bucket];
    for (size_t i = 0; i < b.params.size(); ++i) {
      auto& p = params_[b.params[i]];
      p.detach().view({-1}).copy_(g.full.narrow(0, b.offsets[i], p.numel()));
    }
  };
  for (size_t index = 0; index < buckets_.size(); ++index) {
    const Bucket& b = buckets_[index];
    if (static_cast<int>(in_flight.size()) >= kShardBucketsInFlight) {
      finish(in_flight.front());
      in_flight.erase(in_flight.begin());
    }
    const int64_t mine = ranks_.rank * b.chunk;
    auto send = torch::zeros({b.chunk}, b.shard.options());
    for (size_t i = 0; i < b.params.size(); ++i) {
      const auto& p = params_[b.params[i]];
      const int64_t begin = std::max(b.offsets[i], mine);
      const int64_t end = std::min(b.offsets[i] + p.numel(), mine + b.chunk);
      if (begin >= end) continue;
      send.narrow(0, begin - mine, end - begin)
          .copy_(p.detach().view({-1}).narrow(0, begin - b.offsets[i], end - begin));
    }
    Gather g{index, send, torch::empty({b.chunk * ranks_.world}, b.shard.options()), {}};
    g.work = backend_->_allgather_base(g.full, g.send);
    in_flight.push_back(std::move(g));
  }
  for (auto& g : in_flight) finish(g);
}

void DataParallel::finish_gradient_sync() {
  torch::NoGradGuard no_grad;
  if (sharded()) {
    for (size_t i = 0; i < buckets_.size(); ++i) {
      if (!buckets_[i].launched_final) launch_sharded(i);  // a parameter got no gradient
    }
    for (size_t i : in_flight_) complete_sharded(i);
    in_flight_.clear();
    for (auto& b : buckets_) {
      b.shard.div_(static_cast<double>(ranks_.world));
      b.reduced = 0;
      b.launched_final = false;
    }
    final_micro_step_ = false;
    return;
  }
  for (auto& b : buckets_) {
    if (!b.work) launch(b);  // a bucket with a parameter that got no gradient
  }
  for (auto& b : buckets_) {
    b.work->wait();
    b.work.reset();
    b.buffer.div_(static_cast<double>(ranks_.world));
    int64_t offset = 0;
    for (size_t k : b.params) {
      auto& p = params_[k];
      const int64_t n = p.numel();
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      p.mutable_grad().copy_(b.buffer.narrow(0, offset, n).view_as(p));
      offset += n;
    }
  }
  final_micro_step_ = false;
}

std::vector<double> DataParallel::sum(const std::vector<double>& values) {
  auto t = torch::tensor(values, torch::TensorOptions().dtype(torch::kFloat64));
  if (device_.is_cuda()) t = t.to(device_);
  std::vector<at::Tensor> v{t};
  backend_->allreduce(v)->wait();
  t = v[0].to(torch::kCPU);
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

void DataParallel::barrier() {
  sum({0.0});
}

}  // namespace scalebed
