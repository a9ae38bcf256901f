// The config as the loader sees it: a flat map from dotted key
// ("model.d_model") to a scalar's text and where it was written
// ("configs/tiny.yaml:12", "--set"). Inheritance, overrides, validation,
// hashing and the sweep scheduler all work on this one representation.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace YAML {
class Node;
struct Mark;
}  // namespace YAML

namespace scalebed {

struct ConfigValue {
  std::string text;      // the scalar as written (YAML scalar text)
  std::string location;  // "file:line" or "--set key=value"
};

using FlatConfig = std::map<std::string, ConfigValue>;

// Loads a YAML file, following `base:` (a path relative to the file, or a
// list of them applied in order) recursively; keys of the file override its
// bases. Throws Error naming file:line for YAML syntax errors, non-scalar
// leaves, missing bases and inheritance cycles.
FlatConfig load_yaml_layers(const std::string& path);

// Flattens a YAML document given as text (for tests and for sweep points).
FlatConfig parse_yaml_text(const std::string& text, const std::string& origin);

// "file:line" of a place in a YAML file (1-based line), for error messages.
std::string yaml_location(const std::string& origin, const YAML::Mark& mark);

// The text of a mapping key; throws Error naming file:line when the key is
// not a plain name (empty, a list or a mapping: `? [a, b]: 1`, `? :`).
std::string yaml_key(const YAML::Node& key, const std::string& origin);

// Flattens a YAML mapping node (nested maps become dotted keys); used for
// the `config:` section of sweep files.
FlatConfig flatten_yaml(const YAML::Node& map, const std::string& origin);

// Applies "key.path=value" overrides on top of `config`.
void apply_overrides(FlatConfig& config, const std::vector<std::string>& overrides);

// Serialises a flat config back to nested YAML, keys in the given order
// (keys not in `order` follow, sorted).
std::string to_yaml(const FlatConfig& config, const std::vector<std::string>& order);

}  // namespace scalebed
