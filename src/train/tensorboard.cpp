// TensorBoard event records: CRC32C, a minimal protobuf encoder, the log file.
#include "train/tensorboard.h"

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "util/error.h"
#include "util/fs.h"

namespace scalebed {
namespace {

const std::array<uint32_t, 256>& crc32c_table() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

// Protobuf wire format: varints, and fields as (number << 3 | wire type).
void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void key(std::string& out, int field, int wire) {
  varint(out, (field << 3) | wire);
}
template <typename T>
void fixed(std::string& out, int field, int wire, T value) {
  key(out, field, wire);
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));  // little-endian, as the format is
  out.append(bytes, sizeof(T));
}
void bytes_field(std::string& out, int field, const std::string& value) {
  key(out, field, 2);
  varint(out, value.size());
  out += value;
}

std::string event(double wall_time, int64_t step) {
  std::string e;
  fixed(e, 1, 1, wall_time);  // wall_time: double
  key(e, 2, 0);               // step: int64
  varint(e, static_cast<uint64_t>(step));
  return e;
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

void append_to(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
  out.flush();
  if (!out) fail_at(path, "cannot append TensorBoard events");
}

}  // namespace

uint32_t crc32c(const void* data, size_t n) {
  const auto& table = crc32c_table();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string scalar_event(double wall_time, int64_t step,
                         const std::vector<std::pair<std::string, float>>& scalars) {
  std::string summary;
  for (const auto& [tag, value] : scalars) {
    std::string v;
    bytes_field(v, 1, tag);      // Summary.Value.tag
    fixed(v, 2, 5, value);       // Summary.Value.simple_value: float
    bytes_field(summary, 1, v);  // Summary.value (repeated)
  }
  std::string e = event(wall_time, step);
  bytes_field(e, 5, summary);  // Event.summary
  return e;
}

std::string event_record(const std::string& event) {
  std::string r;
  const uint64_t n = event.size();
  char length[8];
  std::memcpy(length, &n, 8);
  r.append(length, 8);
  const uint32_t length_crc = masked_crc32c(length, 8);
  r.append(reinterpret_cast<const char*>(&length_crc), 4);
  r += event;
  const uint32_t data_crc = masked_crc32c(event.data(), event.size());
  r.append(reinterpret_cast<const char*>(&data_crc), 4);
  return r;
}

std::vector<std::pair<std::string, float>> metrics_scalars(const nlohmann::json& line) {
  std::vector<std::pair<std::string, float>> out;
  for (const auto& [name, value] : line.items()) {
    if (name == "step" || name == "time" || !value.is_number()) continue;
    // train_loss -> train/loss: TensorBoard groups tags by their prefix.
    std::string tag = name;
    for (const char* group : {"train_", "val_", "flops_"}) {
      if (tag.rfind(group, 0) == 0) tag[std::strlen(group) - 1] = '/';
    }
    out.emplace_back(tag, value.get<float>());
  }
  return out;
}

TensorBoardLog::TensorBoardLog(const std::string& dir, const std::vector<nlohmann::json>& lines)
    : path_(dir + "/events.out.tfevents.scalebed") {
  std::filesystem::create_directories(dir);
  std::string e = event(now_seconds(), 0);
  bytes_field(e, 3, "brain.Event:2");  // Event.file_version: the first record
  std::string all = event_record(e);
  for (const auto& line : lines) {
    all += event_record(scalar_event(line.value("time", now_seconds()),
                                     line.at("step").get<int64_t>(), metrics_scalars(line)));
  }
  write_file_atomic(path_, all);
}

void TensorBoardLog::append(const nlohmann::json& line) const {
  append_to(path_,
            event_record(scalar_event(line.value("time", now_seconds()),
                                      line.at("step").get<int64_t>(), metrics_scalars(line))));
}

}  // namespace scalebed
