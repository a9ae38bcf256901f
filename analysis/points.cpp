// CSV reading for scaling-law points.
#include "points.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "util/parse.h"

namespace scalebed::analysis {
namespace {

std::string fmt_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.push_back(cell);
      cell.clear();
    } else if (c != '\r') {
      cell.push_back(c);
    }
  }
  out.push_back(cell);
  return out;
}

bool usable(double v) {
  return std::isfinite(v) && v > 0;
}

}  // namespace

std::string point_problem(const Point& p) {
  for (const auto& [name, v] : {std::pair<const char*, double>{"params", p.params},
                                {"tokens", p.tokens},
                                {"loss", p.loss},
                                {"flops", p.flops}}) {
    if (!usable(v)) return std::string(name) + " is " + fmt_value(v) + " (must be finite and > 0)";
  }
  return "";
}

std::vector<std::string> input_warnings(const std::vector<Point>& points) {
  std::vector<std::string> out;
  std::set<std::tuple<double, double, double, double, std::map<std::string, std::string>>> seen;
  size_t duplicates = 0;
  for (const auto& p : points) {
    if (!seen.insert({p.params, p.tokens, p.loss, p.flops, p.extra}).second) ++duplicates;
  }
  if (duplicates > 0) {
    out.push_back(std::to_string(duplicates) + " of " + std::to_string(points.size()) +
                  " points duplicate another point exactly; each copy counts as a separate "
                  "measurement, so the bootstrap intervals come out too narrow (remove them)");
  }
  const double k = flops_per_param_token(points);
  if (!(k >= 2 && k <= 30)) {
    char buf[240];
    std::snprintf(buf, sizeof buf,
                  "the FLOPs are %.4g per parameter and token (median of flops/(params*tokens)); "
                  "every convention gives 2 to 30 (6 for 6ND): is the flops column in the wrong "
                  "unit, or params/tokens?",
                  k);
    out.push_back(buf);
  }
  return out;
}

std::vector<Point> read_points_csv(const std::string& path, const std::string& convention,
                                   int* skipped) {
  std::ifstream in(path);
  if (!in) throw AnalysisError(path + ": cannot open");
  std::string line;
  if (!std::getline(in, line)) throw AnalysisError(path + ": empty file (expected a header)");
  if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark
  const auto header = split_csv_line(line);
  auto find = [&](const std::string& name) -> int {
    for (size_t i = 0; i < header.size(); ++i) {
      if (header[i] == name) return static_cast<int>(i);
    }
    return -1;
  };
  // A plain points file names params/tokens/loss/flops; a sweep's collected
  // table (run-directory.md) names them as summary.json fields.
  auto column = [&](const std::string& name, const std::string& collected, bool required) {
    int c = find(name);
    if (c < 0 && !collected.empty()) c = find(collected);
    if (c < 0 && required) {
      throw AnalysisError(path + ":1: no '" + name + "'" +
                          (collected.empty() ? "" : " (or '" + collected + "')") +
                          " column in the header");
    }
    return c;
  };
  const int c_params = column("params", "params_non_embedding", true),
            c_tokens = column("tokens", "", true), c_loss = column("loss", "final_val_loss", true),
            c_flops = column("flops", "flops_" + (convention.empty() ? "6nd" : convention), false),
            c_status = find("status");
  std::vector<Point> points;
  int line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line == "\r") continue;
    const auto cells = split_csv_line(line);
    if (cells.size() != header.size()) {
      throw AnalysisError(path + ":" + std::to_string(line_no) + ": " +
                          std::to_string(cells.size()) + " cells, the header has " +
                          std::to_string(header.size()));
    }
    if (c_status >= 0 && cells[c_status] != "done") {  // a collected table's unfinished runs
      if (skipped) ++*skipped;
      continue;
    }
    auto number = [&](int c) {
      const auto v = scalebed::parse_real(cells[c]);
      if (!v || !usable(*v)) {
        throw AnalysisError(path + ":" + std::to_string(line_no) + ": column '" + header[c] +
                            "': expected a finite positive number, got '" + cells[c] + "'");
      }
      return *v;
    };
    Point p;
    p.params = number(c_params);
    p.tokens = number(c_tokens);
    p.loss = number(c_loss);
    p.flops = c_flops >= 0 ? number(c_flops) : 6 * p.params * p.tokens;
    for (size_t i = 0; i < header.size(); ++i) {
      if (static_cast<int>(i) != c_params && static_cast<int>(i) != c_tokens &&
          static_cast<int>(i) != c_loss && static_cast<int>(i) != c_flops) {
        p.extra[header[i]] = cells[i];
      }
    }
    if (p.extra.count("noise_name") && !p.extra.count("noise")) {
      p.extra["noise"] = p.extra["noise_name"];  // the name run directories use
    }
    points.push_back(std::move(p));
  }
  if (points.empty()) throw AnalysisError(path + ": no data rows");
  return points;
}

double extra_number(const Point& p, const std::string& key) {
  auto it = p.extra.find(key);
  if (it == p.extra.end()) return 0;
  return scalebed::parse_real(it->second).value_or(0);
}

long log_bucket(double value) {
  return value > 0 ? std::lround(std::log(value) * 100) : 0;
}

double flops_per_param_token(const std::vector<Point>& points) {
  std::vector<double> k;
  for (const auto& p : points) k.push_back(p.flops / (p.params * p.tokens));
  if (k.empty()) return 6;
  std::nth_element(k.begin(), k.begin() + k.size() / 2, k.end());
  return k[k.size() / 2];
}

std::vector<Point> drop_highest_losses(std::vector<Point> points, size_t count) {
  std::stable_sort(points.begin(), points.end(),
                   [](const Point& a, const Point& b) { return a.loss < b.loss; });
  points.resize(points.size() > count ? points.size() - count : 0);
  return points;
}

}  // namespace scalebed::analysis
