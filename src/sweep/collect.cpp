// Collecting a sweep's run directories into one CSV and one JSONL file.
#include "sweep/collect.h"

#include <filesystem>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sweep/registry.h"
#include "train/run_dir.h"
#include "util/fs.h"

namespace scalebed {
namespace fs = std::filesystem;
namespace {

// {"params": {"total": 5}} -> params_total = 5
void flatten(const nlohmann::json& j, const std::string& prefix,
             std::vector<std::pair<std::string, nlohmann::json>>& out) {
  for (const auto& [k, v] : j.items()) {
    const std::string key = prefix.empty() ? k : prefix + "_" + k;
    if (v.is_object()) {
      flatten(v, key, out);
    } else {
      out.emplace_back(key, v);
    }
  }
}

std::string csv_field(const nlohmann::json& v) {
  std::string s = v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
  if (s.find_first_of(",\"\n") != std::string::npos) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  }
  return s;
}

}  // namespace

CollectResult collect_sweep(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                            const std::string& csv_path, const std::string& jsonl_path) {
  std::vector<std::string> columns;
  std::map<std::string, bool> known;
  std::vector<std::map<std::string, nlohmann::json>> rows;
  CollectResult result;
  auto add = [&](std::map<std::string, nlohmann::json>& row, const std::string& key,
                 const nlohmann::json& v) {
    if (!known[key]) {
      known[key] = true;
      columns.push_back(key);
    }
    if (!row.count(key)) row[key] = v;  // the first wins: swept values before summary fields
  };
  for (const auto& p : points) {
    std::map<std::string, nlohmann::json> row;
    const PointStatus s = point_status(spec, p);
    add(row, "index", p.index);
    add(row, "name", p.name);
    add(row, "status", to_string(s.state));
    for (const auto& [k, v] : p.values) add(row, k, v);
    RunDirectory run(p.dir());
    if (fs::exists(run.file("summary.json"))) {
      const auto summary =
          nlohmann::json::parse(read_file(run.file("summary.json")), nullptr, false);
      if (summary.is_object()) {
        std::vector<std::pair<std::string, nlohmann::json>> fields;
        flatten(summary, "", fields);
        for (const auto& [k, v] : fields) {
          if (k != "name" && k != "status") add(row, k, v);
        }
      }
    }
    add(row, "run_dir", p.dir());
    result.done += s.state == PointState::kDone;
    rows.push_back(std::move(row));
  }
  std::ostringstream csv, jsonl;
  for (size_t c = 0; c < columns.size(); ++c) csv << (c ? "," : "") << csv_field(columns[c]);
  csv << "\n";
  for (const auto& row : rows) {
    nlohmann::json object = nlohmann::json::object();
    for (size_t c = 0; c < columns.size(); ++c) {
      auto it = row.find(columns[c]);
      const nlohmann::json v = it == row.end() ? nlohmann::json() : it->second;
      csv << (c ? "," : "") << csv_field(v);
      if (it != row.end()) object[columns[c]] = v;
    }
    csv << "\n";
    jsonl << object.dump() << "\n";
  }
  fs::create_directories(
      fs::path(csv_path).parent_path().empty() ? "." : fs::path(csv_path).parent_path());
  write_file_atomic(csv_path, csv.str());
  write_file_atomic(jsonl_path, jsonl.str());
  result.rows = static_cast<int>(rows.size());
  return result;
}

}  // namespace scalebed
