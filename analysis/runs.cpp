// Reading finished runs: summary.json into points, metrics.jsonl into curves.
#include "runs.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

namespace scalebed::analysis {
namespace fs = std::filesystem;
namespace {

nlohmann::json read_summary(const fs::path& summary_path) {
  try {
    std::ifstream in(summary_path);
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw AnalysisError(summary_path.string() + ": cannot parse: " + e.what());
  }
}

// The run's point: its final validation loss, size, tokens and FLOPs.
Point point_of(const fs::path& run, const nlohmann::json& s, const std::string& convention) {
  const fs::path summary_path = run / "summary.json";
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
    // nats/token -> bits/byte of the run's data (absent for synthetic sources).
    if (s.contains("nll_to_bpb") && s["nll_to_bpb"].contains("factor")) {
      p.extra["nll_to_bpb"] = s["nll_to_bpb"]["factor"].dump();
    }
    // The synthetic sources' exact optimal loss on the run's held-out windows.
    if (s.contains("optimal_val_loss") && s["optimal_val_loss"].is_number()) {
      p.extra["optimal_loss"] = s["optimal_val_loss"].dump();
    }
    if (const std::string why = point_problem(p); !why.empty()) {
      throw AnalysisError(summary_path.string() + ": " + why);
    }
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw AnalysisError(summary_path.string() + ": missing or mistyped field: " + e.what());
  }
}

std::vector<fs::path> finished_runs(const std::string& path, int* unfinished) {
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
  std::vector<fs::path> done;
  for (const auto& run : runs) {
    if (fs::exists(run / "DONE")) {
      done.push_back(run);
    } else if (unfinished) {
      ++*unfinished;
    }
  }
  return done;
}

void check_convention(const std::string& convention) {
  if (convention != "6nd" && convention != "palm" && convention != "md") {
    throw AnalysisError("FLOP convention must be 6nd, palm or md, not '" + convention + "'");
  }
}

}  // namespace

std::vector<Point> read_run_directories(const std::string& path, const std::string& convention,
                                        int* skipped) {
  check_convention(convention);
  int unfinished = 0;
  std::vector<Point> points;
  for (const auto& run : finished_runs(path, &unfinished))
    points.push_back(point_of(run, read_summary(run / "summary.json"), convention));
  if (skipped) *skipped = unfinished;
  if (points.empty()) {
    throw AnalysisError(path + ": no finished run directories (summary.json and DONE) found");
  }
  return points;
}

std::vector<double> smooth_curve(const std::vector<double>& steps,
                                 const std::vector<double>& values, double log_width) {
  const size_t n = values.size();
  std::vector<double> x(n), out(n);
  for (size_t i = 0; i < n; ++i) x[i] = std::log(std::max(steps[i], 1e-300));
  const double reach = 5 * log_width;
  size_t lo = 0, hi = 0;  // the window [lo, hi) of points within `reach` of x_i
  for (size_t i = 0; i < n; ++i) {
    while (x[lo] < x[i] - reach) ++lo;
    while (hi < n && x[hi] <= x[i] + reach) ++hi;
    // Weighted least squares of value on (x − x_i); the intercept is the estimate.
    double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (size_t j = lo; j < hi; ++j) {
      const double dx = x[j] - x[i], w = std::exp(-std::abs(dx) / log_width);
      sw += w, sx += w * dx, sy += w * values[j], sxx += w * dx * dx, sxy += w * dx * values[j];
    }
    const double det = sw * sxx - sx * sx;
    // The plain weighted mean where the slope is not determined (one point).
    out[i] = det > 1e-12 * sw * sw ? (sxx * sy - sx * sxy) / det : sy / sw;
  }
  return out;
}

std::vector<RunCurve> read_run_curves(const std::string& path, const std::string& convention,
                                      const std::string& metric) {
  check_convention(convention);
  if (metric != "train" && metric != "val") {
    throw AnalysisError("the curve metric must be train or val, not '" + metric + "'");
  }
  std::vector<RunCurve> out;
  for (const auto& run : finished_runs(path, nullptr)) {
    RunCurve c;
    const fs::path summary_path = run / "summary.json";
    const nlohmann::json s = read_summary(summary_path);
    c.final = point_of(run, s, convention);
    try {
      c.flops_per_token = s.at("flops_per_token").at(convention).get<double>();
      c.batch_tokens = s.at("batch_tokens").get<double>();
      c.last_step = s.at("steps").get<double>();
      if (s.contains("schedule")) {
        c.schedule = s["schedule"].value("kind", "");
        c.warmup_steps = s["schedule"].value("warmup_steps", 0.0);
      }
    } catch (const std::exception& e) {
      throw AnalysisError(summary_path.string() + ": missing or mistyped field: " + e.what());
    }
    std::ifstream in(run / "metrics.jsonl");
    std::string line;
    double previous = 0;  // step of the previous line
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      try {
        const auto m = nlohmann::json::parse(line);
        const double step = m.at("step").get<double>();
        if (step <= previous) {
          ++c.repeated_steps;
          continue;
        }
        // The mean over the steps since the previous line, where the trainer
        // logs it, estimates the loss at their midpoint; older runs logged
        // one step's value only.
        double at = step, loss;
        if (metric == "val") {
          previous = step;
          if (!m.contains("val_loss")) continue;
          loss = m.at("val_loss").get<double>();
        } else if (m.contains("train_metric_mean")) {
          loss = m.at("train_metric_mean").get<double>();
          at = 0.5 * (previous + 1 + step);
        } else {
          loss = m.at("train_metric").get<double>();
        }
        previous = step;
        if (at > 0 && std::isfinite(loss) && (c.steps.empty() || at > c.steps.back())) {
          c.steps.push_back(at), c.loss.push_back(loss);
        }
      } catch (const std::exception&) {
        if (!in.eof()) ++c.unparsable_lines;  // a last line without '\n' is a torn write
      }
    }
    if (c.steps.size() < 2) continue;
    c.smooth = smooth_curve(c.steps, c.loss);
    out.push_back(std::move(c));
  }
  return out;
}

TrainingCurve plot_curve(const RunCurve& c) {
  TrainingCurve t;
  t.name = c.final.extra.count("name") ? c.final.extra.at("name") : "";
  for (double s : c.steps) t.flops.push_back(s * c.batch_tokens * c.flops_per_token);
  t.loss = c.smooth;
  return t;
}

}  // namespace scalebed::analysis
