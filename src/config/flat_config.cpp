// YAML loading with `base:` inheritance and dotted overrides, kept flat.
#include "config/flat_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "util/error.h"
#include "util/fs.h"

namespace scalebed {
namespace fs = std::filesystem;
namespace {

void flatten(const YAML::Node& node, const std::string& prefix, const std::string& origin,
             FlatConfig& out) {
  for (const auto& item : node) {
    const std::string key = yaml_key(item.first, origin);
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    const YAML::Node& value = item.second;
    if (value.IsMap()) {
      flatten(value, path, origin, out);
    } else if (value.IsScalar()) {
      out[path] = ConfigValue{value.Scalar(), yaml_location(origin, value.Mark())};
    } else if (value.IsNull()) {
      fail_at(yaml_location(origin, item.first.Mark()), path, ": has no value");
    } else {
      fail_at(yaml_location(origin, value.Mark()), path, ": expected a single value, got a list");
    }
  }
}

YAML::Node parse_document(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail_at(yaml_location(origin, e.mark), "YAML syntax error: ", e.msg);
  }
  if (root.IsNull()) return YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap())
    fail_at(yaml_location(origin, root.Mark()), "expected a mapping of config keys");
  return root;
}

FlatConfig load_layer(const fs::path& path, std::vector<std::string>& chain) {
  if (const auto why = why_missing(path.string()); !why.empty()) {
    fail_at(path.string(), "config ", why);
  }
  const std::string canonical = fs::weakly_canonical(path).string();
  if (std::find(chain.begin(), chain.end(), canonical) != chain.end()) {
    std::string cycle;
    for (const auto& c : chain) cycle += c + " -> ";
    fail_at(path.string(), "base: inheritance cycle: ", cycle, canonical);
  }
  // A directory, a device (/dev/zero never ends) or a FIFO is not a config;
  // nor is a file of megabytes (the first error came after 33 s and 2.8 GB).
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    fail_at(path.string(), "config is not a regular file (a directory or a device?)");
  }
  constexpr std::uintmax_t kMaxConfigBytes = 1 << 20;
  if (fs::file_size(path, ec) > kMaxConfigBytes) {
    fail_at(path.string(), "config is ", fs::file_size(path, ec),
            " bytes; configs are at most 1 MiB");
  }
  std::string text;
  {
    std::ifstream in(path);
    if (!in) fail_at(path.string(), "cannot read config file");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string origin = path.string();
  YAML::Node root = parse_document(text, origin);

  chain.push_back(canonical);
  FlatConfig merged;
  if (root["base"]) {
    const YAML::Node base = root["base"];
    std::vector<std::pair<std::string, YAML::Mark>> bases;
    if (base.IsScalar()) {
      bases.emplace_back(base.Scalar(), base.Mark());
    } else if (base.IsSequence()) {
      for (const auto& b : base) {
        if (!b.IsScalar()) fail_at(yaml_location(origin, b.Mark()), "base: expected a path");
        bases.emplace_back(b.Scalar(), b.Mark());
      }
    } else {
      fail_at(yaml_location(origin, base.Mark()), "base: expected a path or a list of paths");
    }
    for (const auto& [rel, mark] : bases) {
      fs::path base_path = path.parent_path() / rel;
      if (const auto why = why_missing(base_path.string()); !why.empty()) {
        fail_at(yaml_location(origin, mark), "base: ", why, ": ", base_path.string());
      }
      for (auto& [k, v] : load_layer(base_path, chain)) merged[k] = v;
    }
    root.remove("base");
  }
  chain.pop_back();

  FlatConfig own;
  flatten(root, "", origin, own);
  for (auto& [k, v] : own) merged[k] = v;
  return merged;
}

}  // namespace

std::string yaml_location(const std::string& origin, const YAML::Mark& mark) {
  return origin + ":" + std::to_string(mark.line + 1);
}

std::string yaml_key(const YAML::Node& key, const std::string& origin) {
  if (!key.IsScalar() || key.Scalar().empty()) {
    fail_at(yaml_location(origin, key.Mark()), "expected a key name here, got ",
            key.IsMap()        ? "a mapping"
            : key.IsSequence() ? "a list"
                               : "an empty key");
  }
  return key.Scalar();
}

FlatConfig load_yaml_layers(const std::string& path) {
  std::vector<std::string> chain;
  return load_layer(fs::path(path), chain);
}

FlatConfig parse_yaml_text(const std::string& text, const std::string& origin) {
  FlatConfig out;
  YAML::Node root = parse_document(text, origin);
  if (root["base"]) fail_at(origin, "base: only config files may inherit");
  flatten(root, "", origin, out);
  return out;
}

FlatConfig flatten_yaml(const YAML::Node& map, const std::string& origin) {
  FlatConfig out;
  if (!map.IsMap()) fail_at(yaml_location(origin, map.Mark()), "expected a mapping of config keys");
  flatten(map, "", origin, out);
  return out;
}

void apply_overrides(FlatConfig& config, const std::vector<std::string>& overrides) {
  for (const std::string& item : overrides) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      fail_at("--set " + item, "expected key.path=value");
    }
    config[item.substr(0, eq)] = ConfigValue{item.substr(eq + 1), "--set " + item};
  }
}

std::string to_yaml(const FlatConfig& config, const std::vector<std::string>& order) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const auto& k : order) {
    if (config.count(k) && seen.insert(k).second) keys.push_back(k);
  }
  for (const auto& [k, v] : config) {
    if (seen.insert(k).second) keys.push_back(k);
  }
  // yaml-cpp maps keep insertion order, so sections appear in `order`.
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& key : keys) {
    std::vector<YAML::Node> path{root};
    size_t start = 0, dot;
    while ((dot = key.find('.', start)) != std::string::npos) {
      path.push_back(path.back()[key.substr(start, dot - start)]);
      start = dot + 1;
    }
    path.back()[key.substr(start)] = config.at(key).text;
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

}  // namespace scalebed
