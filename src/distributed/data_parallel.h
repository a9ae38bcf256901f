// Data-parallel training over c10d: a TCPStore rendezvous, a process group
// (NCCL on GPUs with the device bound per local rank, Gloo on CPU), rank 0's
// initial parameters broadcast to all, and gradient buckets averaged with
// asynchronous all-reduces launched from hooks on the gradient accumulators
// while backward still runs; only on the final micro-step of an accumulated
// batch. Public header of distributed/ for train/.
//
// Sharding (distributed.shard, ZeRO-1/2 in the DeepSpeed and torchtitan
// sense): each bucket is split into `world` equal chunks (zero-padded) and
// rank r owns chunk r of every bucket. Gradients are reduce-scattered instead
// of all-reduced, so each rank receives the averaged gradient of its chunks
// only and the full gradient is freed once sent; the rank's optimizer holds
// state for, and updates, just those elements (owned_shards), and the updated
// parameters are all-gathered before the next forward (gather_parameters).
//   optimizer  (ZeRO-1) micro-steps accumulate full gradients locally; the
//              final one is reduce-scattered.
//   gradients  (ZeRO-2) every micro-step is reduce-scattered and summed into
//              the chunks, so no full gradient outlives its bucket.
// At most kShardBucketsInFlight buckets are in flight at a time, so the send
// and receive buffers stay a few buckets large. Weights stay whole on every
// rank (this is not ZeRO-3).
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "distributed/ranks.h"
#include "optim/optim.h"

namespace c10d {
class Backend;
class Work;
}  // namespace c10d

namespace scalebed {

enum class ShardMode { kNone, kOptimizer, kGradients };
ShardMode parse_shard_mode(const std::string& name);  // none | optimizer | gradients
const char* shard_mode_name(ShardMode mode);

constexpr int kShardBucketsInFlight = 2;

// Elements [offset, offset + numel) of the flattened parameter `param`
// (an index into the constructor's params).
struct ShardRange {
  size_t param;
  int64_t offset, numel;
};

class DataParallel {
 public:
  // Joins the job described by `ranks` (blocks until every rank has joined or
  // `timeout` passes). `params` in the model's order; `bucket_mb` sizes the
  // gradient buckets.
  DataParallel(const RankInfo& ranks, const torch::Device& device,
               std::vector<torch::Tensor> params, double bucket_mb,
               std::chrono::milliseconds timeout, ShardMode shard = ShardMode::kNone);
  ~DataParallel();

  int rank() const { return ranks_.rank; }
  int world() const { return ranks_.world; }
  bool is_main() const { return ranks_.rank == 0; }
  // "NCCL on cuda:0", "Gloo on 10.0.0.2 (the route to node01)", ...
  const std::string& transport() const { return transport_; }

  // Every rank starts from rank 0's parameters.
  void broadcast_parameters();

  // Before each micro-step's backward: whether this is the final micro-step
  // (gradients complete: their buckets are reduced as they fill).
  void set_final_micro_step(bool final);
  // After the final backward: waits for every bucket, averages, writes the
  // gradients back. Every rank then holds the same gradients.
  void finish_gradient_sync();

  ShardMode shard() const { return shard_; }
  bool sharded() const { return shard_ != ShardMode::kNone; }
  // Under sharding: this rank's share of each parameter (at most one
  // contiguous run of its flattened elements), with `names` in the order of
  // the params given to the constructor, each holding a view of its averaged
  // gradient (valid after finish_gradient_sync).
  std::vector<ParamShard> owned_shards(const std::vector<std::string>& names) const;
  // The ranges rank `rank` owns, in parameter order (checkpoints record them).
  std::vector<ShardRange> ranges_of(int rank) const;
  // The global L2 norm from this rank's norm over its shards.
  torch::Tensor global_norm(const torch::Tensor& local_norm);
  // After the update: every rank receives every chunk's new values.
  void gather_parameters();

  // Sums host values over the ranks (losses, counts, stop flags).
  std::vector<double> sum(const std::vector<double>& values);
  void barrier();

  int buckets() const { return static_cast<int>(buckets_.size()); }
  // Buckets of the last synchronised step whose all-reduce was launched by a
  // gradient hook, i.e. while backward was still running.
  int buckets_launched_in_backward() const { return launched_in_backward_; }

 private:
  struct Bucket {
    std::vector<size_t> params;    // indices into params_
    std::vector<int64_t> offsets;  // where each starts in the bucket
    int64_t numel = 0;
    int64_t chunk = 0;  // sharded: elements per rank, ceil(numel / world)
    int pending = 0;    // gradients still to arrive this micro-step
    bool launched_final = false;
    torch::Tensor buffer;      // unsharded: the all-reduce buffer
    torch::Tensor send, recv;  // sharded: in flight
    torch::Tensor shard;       // sharded: this rank's averaged chunk (chunk)
    int reduced = 0;           // micro-steps summed into `shard` this step
    c10::intrusive_ptr<c10d::Work> work;
  };
  void on_gradient_ready(size_t param);
  void launch(Bucket& bucket);
  void launch_sharded(size_t bucket);
  void complete_sharded(size_t bucket);  // waits, sums the received chunk in

  RankInfo ranks_;
  torch::Device device_;
  std::vector<torch::Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;  // kept alive for the hooks
  c10::intrusive_ptr<c10d::Backend> backend_;
  std::string transport_ = "not connected";
  bool final_micro_step_ = false;
  int launched_in_backward_ = 0;
  ShardMode shard_ = ShardMode::kNone;
  std::vector<size_t> in_flight_;  // sharded: buckets launched, oldest first
};

}  // namespace scalebed
