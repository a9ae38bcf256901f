// Reading summary.json of finished runs into points.
#include "runs.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace scalebed::analysis {
namespace fs = std::filesystem;
namespace {

Point point_of(const fs::path& run, const std::string& convention) {
  const fs::path summary_path = run / "summary.json";
  nlohmann::json s;
  try {
    std::ifstream in(summary_path);
    s = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw AnalysisError(summary_path.string() + ": cannot parse: " + e.what());
  }
  try {
    Point p;
    p.params = s.at("params").at("non_embedding").get<double>();
    p.tokens = s.at("tokens").get<double>();
    if (s.at("final_val_loss").is_null()) {
      throw AnalysisError(summary_path.string() + ": final_val_loss is null (never evaluated)");
    }
    p.loss = s.at("final_val_loss").get<double>();
    p.flops = s.at("flops").at(convention).get<double>();
    p.extra["name"] = s.value("name", run.filename().string());
    p.extra["objective"] = s.value("objective", "");
    p.extra["loss_kind"] = s.value("loss_kind", "");
    if (s.contains("noise")) p.extra["noise"] = s["noise"].value("name", "");
    if (s.contains("batch_tokens")) p.extra["batch_tokens"] = s["batch_tokens"].dump();
    if (s.contains("base_lr")) p.extra["base_lr"] = s["base_lr"].dump();
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw AnalysisError(summary_path.string() + ": missing or mistyped field: " + e.what());
  }
}

}  // namespace

std::vector<Point> read_run_directories(const std::string& path, const std::string& convention,
                                        int* skipped) {
  if (convention != "6nd" && convention != "palm" && convention != "md") {
    throw AnalysisError("FLOP convention must be 6nd, palm or md, not '" + convention + "'");
  }
  if (!fs::is_directory(path)) throw AnalysisError(path + ": not a directory");
  std::vector<fs::path> runs;
  if (fs::exists(fs::path(path) / "summary.json")) {
    runs.push_back(path);
  } else {
    for (const auto& entry : fs::directory_iterator(path)) {
      if (entry.is_directory() && fs::exists(entry.path() / "summary.json"))
        runs.push_back(entry.path());
    }
  }
  std::sort(runs.begin(), runs.end());
  std::vector<Point> points;
  int unfinished = 0;
  for (const auto& run : runs) {
    if (!fs::exists(run / "DONE")) {
      ++unfinished;
      continue;
    }
    points.push_back(point_of(run, convention));
  }
  if (skipped) *skipped = unfinished;
  if (points.empty()) {
    throw AnalysisError(path + ": no finished run directories (summary.json and DONE) found");
  }
  return points;
}

}  // namespace scalebed::analysis
