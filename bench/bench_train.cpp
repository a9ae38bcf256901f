// bench_train: training throughput of one config. Runs warm-up steps, then
// times full optimizer steps (forward, backward, clipping, update) and prints
// tokens/s, achieved FLOP/s under the PaLM convention (6·N_matmul + 12·L·d·T
// per token), MFU against a given peak, and peak device memory. The same
// program runs on CPU here and on a GPU with `--set device=cuda`, and as one
// rank of a data-parallel job when started with torchrun's variables (RANK,
// WORLD_SIZE, MASTER_ADDR, MASTER_PORT: bench/shard_memory.sh).
//
//   bench_train --config configs/tiny.yaml [--set key=value ...]
//               [--steps 20] [--warmup 3] [--peak-tflops P] [--whole-footprint]
//
// --whole-footprint (CPU): measure every tensor allocation from before the
// model is built to the end of the timed steps (weights, gradients, optimizer
// state, data-parallel buffers, activations) against the total estimate,
// instead of what the timed steps add above the state.
#include <dlfcn.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "model/accounting.h"
#include "train/device.h"
#include "train/train.h"
#include "util/error.h"
#include "util/parse.h"

// Which malloc this process runs on (linked or LD_PRELOADed), for the record.
std::string allocator_in_use() {
  if (dlsym(RTLD_DEFAULT, "tc_malloc")) return "tcmalloc";
  if (dlsym(RTLD_DEFAULT, "mallctl")) return "jemalloc";
  return "glibc malloc";
}

int main(int argc, char** argv) {
  std::string config;
  std::vector<std::string> overrides;
  int steps = 20, warmup = 3;
  double peak_tflops = 0;
  bool whole_footprint = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) {
          std::cerr << a << " needs a value\n";
          std::exit(2);
        }
        return argv[++i];
      };
      if (a == "--config") {
        config = next();
      } else if (a == "--set") {
        overrides.push_back(next());
      } else if (a == "--steps") {
        steps = static_cast<int>(scalebed::integer_flag(a, next(), 1, 1000000));
      } else if (a == "--warmup") {
        warmup = static_cast<int>(scalebed::integer_flag(a, next(), 0, 1000000));
      } else if (a == "--peak-tflops") {
        peak_tflops = scalebed::positive_flag(a, next());
      } else if (a == "--whole-footprint") {
        whole_footprint = true;
      } else {
        std::cerr << "usage: bench_train --config FILE [--set k=v] [--steps N] [--warmup N] "
                     "[--peak-tflops P] [--whole-footprint]\n";
        return 2;
      }
    }
  } catch (const scalebed::UsageError& e) {
    std::cerr << "bench_train: " << e.what() << "\n";
    return 2;
  }
  if (config.empty()) {
    std::cerr << "bench_train: --config is required\n";
    return 2;
  }
  try {
    const auto cfg = scalebed::load_run_config(config, overrides);
    std::optional<scalebed::CpuAllocationWindow> cpu_window;
    if (whole_footprint) cpu_window.emplace();  // CPU runs only (checked below)
    auto t = scalebed::build_training(cfg);
    if (whole_footprint && !t->device.is_cpu()) {
      std::cerr << "bench_train: --whole-footprint measures CPU runs\n";
      return 2;
    }
    scalebed::BatchSource batches(t->data, t->cfg.model.context, 0);
    const double lr = t->cfg.optim.lr;
    auto sync = [&] {
      if (t->device.is_cuda()) torch::cuda::synchronize();
    };
    for (int s = 0; s < warmup; ++s) scalebed::training_step(*t, batches, s, lr);
    sync();
    scalebed::reset_peak_device_memory(t->device);
    // On the CPU, what the timed steps allocate on top of the model, its
    // gradients and the optimizer state (all in place after warm-up).
    if (t->device.is_cpu() && !whole_footprint) cpu_window.emplace();
    const auto start = std::chrono::steady_clock::now();
    double loss = 0;
    for (int s = 0; s < steps; ++s)
      loss = scalebed::training_step(*t, batches, warmup + s, lr).loss;
    sync();
    const int64_t step_peak = cpu_window ? cpu_window->peak_bytes() : 0;
    cpu_window.reset();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // The update alone (gradient norm, clipping, optimizer step) on the last
    // step's gradients: how much of a step is per-parameter bookkeeping
    // rather than model compute, which matters for small models.
    const auto update_start = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; ++s) {
      scalebed::apply_update(*t, scalebed::global_grad_norm(t->optimizer->params()), lr);
    }
    sync();
    const double update_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - update_start).count();
    const double tokens = static_cast<double>(steps) * t->cfg.tokens_per_step();
    const double tokens_per_s = tokens / seconds;
    const double flops_per_s = tokens_per_s * t->flops.palm;
    std::printf("config        %s\n", config.c_str());
    std::printf("device        %s\n", scalebed::describe_device(t->device).c_str());
    std::printf("allocator     %s\n", allocator_in_use().c_str());
    std::printf("model         L%lld d%lld h%lld T%lld V%lld, %lld params (%lld non-embedding)\n",
                (long long)t->cfg.model.layers, (long long)t->cfg.model.d_model,
                (long long)t->cfg.model.heads, (long long)t->cfg.model.context,
                (long long)t->cfg.model.vocab, (long long)t->params.total,
                (long long)t->params.non_embedding);
    std::printf("batch         %lld sequences (micro %lld), %lld tokens/step\n",
                (long long)t->cfg.train.batch_size, (long long)t->cfg.train.micro_batch,
                (long long)t->cfg.tokens_per_step());
    std::printf("steps         %d timed after %d warm-up, %.3f s (%.2f ms/step), last loss %.4f\n",
                steps, warmup, seconds, 1e3 * seconds / steps, loss);
    std::printf(
        "update        %.2f ms/step (%.1f%% of a step: grad norm, clipping, %s step over "
        "%zu tensors)\n",
        1e3 * update_seconds / steps, 100.0 * update_seconds / seconds, t->cfg.optim.name.c_str(),
        t->optimizer->params().size());
    std::printf("tokens/s      %.1f\n", tokens_per_s);
    std::printf("TFLOP/s       %.4f (PaLM: %.4g FLOPs/token)\n", flops_per_s / 1e12, t->flops.palm);
    if (peak_tflops > 0) {
      std::printf("MFU           %.2f%% of %.3g TFLOP/s\n",
                  100.0 * flops_per_s / 1e12 / peak_tflops, peak_tflops);
    } else {
      std::printf("MFU           (give --peak-tflops to compute it)\n");
    }
    const auto estimate = scalebed::estimate_memory(t->model_options, t->cfg.train.micro_batch,
                                                    scalebed::rank_layout(*t));
    const double mib = 1024.0 * 1024.0;
    if (whole_footprint) {
      std::printf("rank          %d of %d, distributed.shard %s\n", t->ranks.rank, t->ranks.world,
                  t->cfg.distributed.shard.c_str());
      std::printf("estimate      %s\n", estimate.describe().c_str());
      std::printf(
          "footprint     %.1f MiB measured (peak CPU allocation from the build to the last "
          "timed step), %.1f MiB estimated (measured/estimate %.2f)\n",
          step_peak / mib, estimate.total() / mib, step_peak / estimate.total());
    } else if (t->device.is_cpu()) {
      // The measured peak is everything the steps allocate above the state:
      // activations during forward and backward, or the optimizer step's
      // temporaries, whichever is larger.
      std::printf(
          "activations   %.1f MiB measured (peak CPU allocation during the timed steps), "
          "%.1f MiB estimated (measured/estimate %.2f)\n",
          step_peak / mib, estimate.step_bytes() / mib, step_peak / estimate.step_bytes());
    } else {
      std::printf("peak memory   %.1f MiB (estimate %.1f MiB, measured/estimate %.2f)\n",
                  scalebed::peak_device_memory(t->device) / mib, estimate.total() / mib,
                  scalebed::peak_device_memory(t->device) / estimate.total());
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
