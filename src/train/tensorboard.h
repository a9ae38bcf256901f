// TensorBoard event files, written directly: each record is
//   uint64 length | uint32 masked CRC32C(length) | data | uint32 masked CRC32C(data)
// (little-endian; mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8), and each
// data is a serialized tensorflow.Event protobuf: wall_time (field 1, double),
// step (2, int64), and either file_version (3, "brain.Event:2") or a summary
// (5) of values (1) with a tag (1) and a simple_value (2, float). That is all
// TensorBoard's scalar dashboard reads; no TensorFlow or protobuf library is
// needed for it.
//
// The run's event file is a function of its metrics.jsonl: one event per
// metrics line, one scalar per numeric field (train_loss as train/loss,
// val_loss as val/loss, flops_md as flops/md, lr, grad_norm, tokens, ...),
// at the line's step. A resumed run rebuilds it from the metrics that the
// checkpoint kept, so events past the checkpoint step are dropped exactly as
// metrics lines are. Public header of train/ for the loop and its tests.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace scalebed {

uint32_t crc32c(const void* data, size_t n);  // Castagnoli, reflected, as iSCSI
uint32_t masked_crc32c(const void* data, size_t n);

// One serialized Event with the given scalars (tag, value).
std::string scalar_event(double wall_time, int64_t step,
                         const std::vector<std::pair<std::string, float>>& scalars);
// The record framing around one serialized Event.
std::string event_record(const std::string& event);

// The scalars of one metrics.jsonl line (every number but "step" and "time").
std::vector<std::pair<std::string, float>> metrics_scalars(const nlohmann::json& line);

class TensorBoardLog {
 public:
  // Writes DIR/events.out.tfevents.scalebed afresh from `lines` (atomically:
  // a temporary file renamed over it), then appends.
  TensorBoardLog(const std::string& dir, const std::vector<nlohmann::json>& lines);
  void append(const nlohmann::json& line) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace scalebed
