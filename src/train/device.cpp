// Device selection and memory statistics; the CUDA parts compile wherever
// LibTorch was built with CUDA, and only run where a GPU exists.
#include "train/device.h"

#include <atomic>

#ifdef SCALEBED_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime_api.h>
#endif

#include "util/error.h"

namespace scalebed {

torch::Device select_device(const std::string& name, int local_rank) {
  if (name == "cpu") return torch::kCPU;
  if (name != "cuda" && name != "auto") throw Error("device: unknown device '" + name + "'");
#ifndef SCALEBED_WITH_CUDA
  // Configured without the CUDA toolkit: only LibTorch's CPU half is linked.
  if (name == "auto") return torch::kCPU;
  throw Error(
      "device: cuda was asked for, but this trainer was built without CUDA (no CUDA toolkit at "
      "configure time, or SCALEBED_CPU_ONLY=ON; see the README, Building by hand)");
#endif
  const bool available = torch::cuda::is_available();
  if (name == "auto" && !available) return torch::kCPU;
  if (!available) throw Error("device: cuda was asked for, but no CUDA device is available");
  const auto visible = static_cast<int>(torch::cuda::device_count());
  if (local_rank >= visible) {
    throw Error("device: local rank " + std::to_string(local_rank) + " has no GPU of its own (" +
                std::to_string(visible) + " visible; one rank per GPU)");
  }
  const torch::Device device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
#ifdef SCALEBED_WITH_CUDA
  c10::cuda::set_device(device.index());
#endif
  return device;
}

std::string describe_device(const torch::Device& device) {
#ifdef SCALEBED_WITH_CUDA
  if (device.is_cuda()) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, device.index()) == cudaSuccess) return prop.name;
    return "cuda";
  }
#endif
  return "cpu (" + std::to_string(torch::get_num_threads()) + " threads)";
}

int64_t total_device_memory(const torch::Device& device) {
#ifdef SCALEBED_WITH_CUDA
  if (device.is_cuda()) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, device.index()) == cudaSuccess) {
      return static_cast<int64_t>(prop.totalGlobalMem);
    }
  }
#endif
  (void)device;
  return 0;
}

int64_t peak_device_memory(const torch::Device& device) {
#ifdef SCALEBED_WITH_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)]
        .peak;
  }
#endif
  (void)device;
  return 0;
}

void reset_peak_device_memory(const torch::Device& device) {
#ifdef SCALEBED_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
  (void)device;
}

struct CpuAllocationWindow::Reporter : public c10::MemoryReportingInfoBase {
  std::atomic<int64_t> current{0}, peak{0};
  // alloc_size is negative for a free.
  void reportMemoryUsage(void*, int64_t alloc_size, size_t, size_t, c10::Device device) override {
    if (!device.is_cpu()) return;
    const int64_t now = current.fetch_add(alloc_size) + alloc_size;
    int64_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
  bool memoryProfilingEnabled() const override { return true; }
};

CpuAllocationWindow::CpuAllocationWindow()
    : reporter_(std::make_shared<Reporter>()),
      guard_(std::make_unique<c10::DebugInfoGuard>(c10::DebugInfoKind::PROFILER_STATE, reporter_)) {
}

CpuAllocationWindow::~CpuAllocationWindow() = default;

int64_t CpuAllocationWindow::peak_bytes() const {
  return reporter_->peak.load();
}

}  // namespace scalebed
