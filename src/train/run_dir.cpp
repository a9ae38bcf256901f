// Run-directory files: metrics, summary, completion marker, checkpoint list.
#include "train/run_dir.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "util/error.h"
#include "util/fs.h"

namespace scalebed {
namespace fs = std::filesystem;

bool RunDirectory::exists() const {
  return fs::exists(path_);
}
bool RunDirectory::is_done() const {
  return fs::exists(file("DONE"));
}

void RunDirectory::create() const {
  std::error_code ec;
  fs::create_directories(checkpoints_dir(), ec);
  if (ec) fail_at(path_, "cannot create run directory: ", ec.message());
}

void RunDirectory::append_metrics(const nlohmann::json& line) const {
  append_line(file("metrics.jsonl"), line.dump());
}

int64_t RunDirectory::metrics_bytes() const {
  std::error_code ec;
  auto n = fs::file_size(file("metrics.jsonl"), ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

void RunDirectory::truncate_metrics(int64_t bytes) const {
  const std::string path = file("metrics.jsonl");
  if (!fs::exists(path)) return;
  if (::truncate(path.c_str(), bytes) != 0) fail_at(path, "cannot truncate to ", bytes, " bytes");
}

void RunDirectory::write_summary(const nlohmann::json& summary) const {
  write_file_atomic(file("summary.json"), summary.dump(2) + "\n");
}

void RunDirectory::mark_done() const {
  write_file_atomic(file("DONE"), "done\n");
}

std::vector<std::string> RunDirectory::checkpoints() const {
  std::vector<std::string> out;
  if (!fs::exists(checkpoints_dir())) return out;
  for (const auto& entry : fs::directory_iterator(checkpoints_dir())) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("step_", 0) == 0) out.push_back(entry.path().string());
  }
  std::sort(out.rbegin(), out.rend());  // zero-padded step numbers sort by step
  return out;
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::parse_error&) {
      if (in.peek() != EOF) fail_at(path, "corrupt metrics line ", out.size() + 1);
      // a torn last line: skipped
    }
  }
  return out;
}

}  // namespace scalebed
