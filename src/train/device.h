// Device and precision context: chosen once from the config, applied by the
// trainer; nothing else branches on the device.
#pragma once

#include <c10/util/ThreadLocalDebugInfo.h>
#include <torch/torch.h>

#include <memory>

#include <string>

namespace scalebed {

// "cpu", "cuda" or "auto" (cuda when available). On CUDA, rank `local_rank`
// of this machine gets GPU `local_rank`, made the current device so that NCCL
// and anything else that uses the current device work on it (without that,
// every rank would also open a context on GPU 0). Throws Error when cuda is
// asked for and none is available, or the rank has no GPU of its own.
torch::Device select_device(const std::string& name, int local_rank = 0);

// Human-readable device name ("cpu (2 threads)", "NVIDIA H100 80GB HBM3").
std::string describe_device(const torch::Device& device);

// Total memory of the device in bytes (0 on CPU).
int64_t total_device_memory(const torch::Device& device);

// Peak bytes allocated on the device since the last reset (0 on CPU: see
// CpuAllocationWindow).
int64_t peak_device_memory(const torch::Device& device);
void reset_peak_device_memory(const torch::Device& device);

// CPU tensor storage allocated on this thread (and LibTorch's intra-op
// threads) while the window is open, through LibTorch's memory-profiling
// hook: the peak of (allocated − freed) since it opened. Opened after the
// model, its gradients and the optimizer state exist, it measures what the
// steps inside it add: activations and temporaries. One window at a time.
class CpuAllocationWindow {
 public:
  CpuAllocationWindow();
  ~CpuAllocationWindow();
  CpuAllocationWindow(const CpuAllocationWindow&) = delete;
  CpuAllocationWindow& operator=(const CpuAllocationWindow&) = delete;
  int64_t peak_bytes() const;

 private:
  struct Reporter;
  std::shared_ptr<Reporter> reporter_;
  std::unique_ptr<c10::DebugInfoGuard> guard_;
};

}  // namespace scalebed
