// Data-parallel training over c10d: a TCPStore rendezvous, a process group
// (NCCL on GPUs with the device bound per local rank, Gloo on CPU), rank 0's
// initial parameters broadcast to all, and gradient buckets averaged with
// asynchronous all-reduces launched from hooks on the gradient accumulators
// while backward still runs; only on the final micro-step of an accumulated
// batch. Public header of distributed/ for train/.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "distributed/ranks.h"

namespace c10d {
class Backend;
class Work;
}  // namespace c10d

namespace scalebed {

class DataParallel {
 public:
  // Joins the job described by `ranks` (blocks until every rank has joined or
  // `timeout` passes). `params` in the model's order; `bucket_mb` sizes the
  // gradient buckets.
  DataParallel(const RankInfo& ranks, const torch::Device& device,
               std::vector<torch::Tensor> params, double bucket_mb,
               std::chrono::milliseconds timeout);
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

  // Sums host values over the ranks (losses, counts, stop flags).
  std::vector<double> sum(const std::vector<double>& values);
  void barrier();

  int buckets() const { return static_cast<int>(buckets_.size()); }
  // Buckets of the last synchronised step whose all-reduce was launched by a
  // gradient hook, i.e. while backward was still running.
  int buckets_launched_in_backward() const { return launched_in_backward_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    int64_t numel = 0;
    int pending = 0;
    torch::Tensor buffer;
    c10::intrusive_ptr<c10d::Work> work;
  };
  void on_gradient_ready(size_t param);
  void launch(Bucket& bucket);

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
};

}  // namespace scalebed
