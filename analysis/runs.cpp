// Reading summary.json of finished runs into points.
#include "runs.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "curve_fit.h"

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
    if (s.contains("seed")) p.extra["seed"] = s["seed"].dump();
    if (s.contains("device")) p.extra["device"] = s.value("device", "");
    if (s.contains("wall_s")) p.extra["wall_s"] = s["wall_s"].dump();
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw AnalysisError(summary_path.string() + ": missing or mistyped field: " + e.what());
  }
}

// Points along one run's fitted training curve.
std::vector<Point> curve_points_of(const fs::path& run, const Point& final,
                                   const std::string& convention, int count) {
  const fs::path metrics_path = run / "metrics.jsonl", summary_path = run / "summary.json";
  nlohmann::json s;
  {
    std::ifstream in(summary_path);
    s = nlohmann::json::parse(in);
  }
  const double per_token = s.at("flops_per_token").at(convention).get<double>();
  const double batch_tokens = s.at("batch_tokens").get<double>();
  const double last_step = s.at("steps").get<double>();
  std::vector<double> steps, losses;
  std::ifstream in(metrics_path);
  std::string line;
  while (std::getline(in, line)) {
    try {
      const auto m = nlohmann::json::parse(line);
      steps.push_back(m.at("step").get<double>());
      losses.push_back(m.at("train_metric").get<double>());
    } catch (const std::exception&) {  // a torn last line is skipped
    }
  }
  const auto smooth = ema(losses);
  std::vector<double> fit_steps, fit_losses;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i] > 0.1 * last_step) fit_steps.push_back(steps[i]), fit_losses.push_back(smooth[i]);
  }
  if (fit_steps.size() < 5) return {};  // too short a curve: the caller keeps the final loss
  const CurveLaw curve = fit_curve(fit_steps, fit_losses);
  std::vector<Point> out;
  for (int k = 0; k < count; ++k) {
    const double step =
        last_step * std::pow(4.0, -1.0 + static_cast<double>(k) / std::max(1, count - 1));
    Point p = final;
    p.tokens = step * batch_tokens;
    p.flops = per_token * p.tokens;
    p.loss = curve.at(step);
    p.extra["curve_step"] = std::to_string(static_cast<long long>(std::llround(step)));
    out.push_back(p);
  }
  return out;
}

}  // namespace

std::vector<Point> read_run_directories(const std::string& path, const std::string& convention,
                                        int* skipped, int curve_points) {
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
    const Point final = point_of(run, convention);
    if (curve_points > 0) {
      const auto curve = curve_points_of(run, final, convention, curve_points);
      if (curve.empty()) {
        std::cerr << "note: " << run.string()
                  << ": fewer than 5 logged steps after warm-up; using its final loss only\n";
        points.push_back(final);
      }
      for (const auto& p : curve) points.push_back(p);
    } else {
      points.push_back(final);
    }
  }
  if (skipped) *skipped = unfinished;
  if (points.empty()) {
    throw AnalysisError(path + ": no finished run directories (summary.json and DONE) found");
  }
  return points;
}

std::vector<TrainingCurve> read_training_curves(const std::string& path,
                                                const std::string& convention) {
  std::vector<TrainingCurve> out;
  std::vector<fs::path> runs;
  if (fs::exists(fs::path(path) / "summary.json")) {
    runs.push_back(path);
  } else {
    for (const auto& e : fs::directory_iterator(path)) {
      if (e.is_directory() && fs::exists(e.path() / "DONE")) runs.push_back(e.path());
    }
  }
  std::sort(runs.begin(), runs.end());
  for (const auto& run : runs) {
    TrainingCurve c;
    c.name = run.filename().string();
    try {
      std::ifstream summary(run / "summary.json");
      c.name = nlohmann::json::parse(summary).value("name", c.name);
    } catch (const std::exception&) {
    }
    std::vector<double> raw;
    std::ifstream in(run / "metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      try {
        const auto m = nlohmann::json::parse(line);
        const double f = m.at("flops_" + convention).get<double>();
        const double l = m.at("train_metric").get<double>();
        if (f > 0 && l > 0) c.flops.push_back(f), raw.push_back(l);
      } catch (const std::exception&) {  // a torn last line is skipped
      }
    }
    if (raw.size() < 2) continue;
    c.loss = ema(raw);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace scalebed::analysis
