// Loading sweep files and expanding them into validated run configs.
#include "sweep/sweep.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "model/accounting.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/parse.h"

namespace scalebed {
namespace fs = std::filesystem;
namespace {

const char* kPreset = "preset";

bool is_config_key(const std::string& key) {
  return schema_by_key().count(key) > 0;
}

ExprValue value_of_text(const std::string& text) {
  if (auto v = parse_real(text)) return ExprValue::of(*v);
  if (text == "true") return ExprValue::of(1.0);
  if (text == "false") return ExprValue::of(0.0);
  return ExprValue::of(text);
}

bool same_value(const std::string& a, const std::string& b) {
  if (a == b) return true;
  auto x = parse_real(a), y = parse_real(b);
  return x && y && *x == *y;
}

// Collects the lists under `node` (nested maps give dotted keys).
void read_axes(const YAML::Node& node, const std::string& prefix, const std::string& origin,
               const std::string& section, std::vector<SweepAxis>& out) {
  if (!node.IsMap()) fail_at(yaml_location(origin, node.Mark()), section, ": expected a mapping");
  for (const auto& item : node) {
    const std::string key = prefix + yaml_key(item.first, origin);
    const YAML::Node& v = item.second;
    if (v.IsMap()) {
      read_axes(v, key + ".", origin, section, out);
      continue;
    }
    SweepAxis axis{key, {}};
    if (v.IsScalar()) {
      axis.values.push_back({v.Scalar(), yaml_location(origin, v.Mark())});
    } else if (v.IsSequence()) {
      for (const auto& x : v) {
        if (!x.IsScalar()) {
          fail_at(yaml_location(origin, x.Mark()), section, " ", key,
                  ": values must be single values");
        }
        axis.values.push_back({x.Scalar(), yaml_location(origin, x.Mark())});
      }
    } else {
      fail_at(yaml_location(origin, item.first.Mark()), section, " ", key, ": has no values");
    }
    if (axis.values.empty())
      fail_at(yaml_location(origin, v.Mark()), section, " ", key, ": empty list");
    out.push_back(std::move(axis));
  }
}

std::string require_scalar(const YAML::Node& node, const std::string& origin,
                           const std::string& key) {
  if (!node.IsScalar())
    fail_at(yaml_location(origin, node.Mark()), key, ": expected a single value");
  return node.Scalar();
}

double read_number(const YAML::Node& node, const std::string& origin, const std::string& key,
                   double min_value) {
  auto v = parse_real(require_scalar(node, origin, key));
  if (!v || *v < min_value) {
    fail_at(yaml_location(origin, node.Mark()), key,
            ": expected a number >= ", format_number(min_value), ", got '", node.Scalar(), "'");
  }
  return *v;
}

int read_int(const YAML::Node& node, const std::string& origin, const std::string& key,
             int min_value) {
  const double v = read_number(node, origin, key, min_value);
  if (v != std::floor(v) || v > std::numeric_limits<int>::max()) {
    fail_at(yaml_location(origin, node.Mark()), key, ": expected a whole number >= ", min_value,
            ", got '", node.Scalar(), "'");
  }
  return static_cast<int>(v);
}

std::vector<std::string> read_strings(const YAML::Node& node, const std::string& origin,
                                      const std::string& key) {
  std::vector<std::string> out;
  if (node.IsScalar()) return {node.Scalar()};
  if (!node.IsSequence()) fail_at(yaml_location(origin, node.Mark()), key, ": expected a list");
  for (const auto& x : node) out.push_back(require_scalar(x, origin, key));
  return out;
}

void read_scheduler(const YAML::Node& node, const std::string& origin, SchedulerOptions& s) {
  if (!node.IsMap()) fail_at(yaml_location(origin, node.Mark()), "scheduler: expected a mapping");
  for (const auto& item : node) {
    const std::string key = yaml_key(item.first, origin);
    const std::string name = "scheduler." + key;
    if (key == "jobs") {
      s.jobs = read_int(item.second, origin, name, 0);
    } else if (key == "gpus_per_run") {
      s.gpus_per_run = read_int(item.second, origin, name, 1);
    } else if (key == "heartbeat_s") {
      s.heartbeat_s = read_number(item.second, origin, name, 0.1);
    } else if (key == "stale_after_s") {
      s.stale_after_s = read_number(item.second, origin, name, 1);
    } else {
      fail_at(yaml_location(origin, item.first.Mark()), "unknown key '", name,
              "' (known: jobs, gpus_per_run, heartbeat_s, stale_after_s)");
    }
  }
  if (s.stale_after_s < 2 * s.heartbeat_s) {
    fail_at(yaml_location(origin, node.Mark()),
            "scheduler.stale_after_s must be at least twice scheduler.heartbeat_s");
  }
}

void read_slurm(const YAML::Node& node, const std::string& origin, SlurmOptions& s) {
  if (!node.IsMap()) fail_at(yaml_location(origin, node.Mark()), "slurm: expected a mapping");
  const std::map<std::string, std::string*> strings = {
      {"partition", &s.partition}, {"account", &s.account}, {"qos", &s.qos},
      {"time", &s.time},           {"mem", &s.mem},         {"constraint", &s.constraint}};
  const std::map<std::string, int*> ints = {{"gpus_per_task", &s.gpus_per_task},
                                            {"cpus_per_task", &s.cpus_per_task},
                                            {"max_parallel", &s.max_parallel},
                                            {"signal_s", &s.signal_s}};
  for (const auto& item : node) {
    const std::string key = yaml_key(item.first, origin);
    const std::string name = "slurm." + key;
    if (strings.count(key)) {
      const std::string v = require_scalar(item.second, origin, name);
      // Values land on #SBATCH lines: keep them to one shell-safe word.
      if (v.find_first_of(" \t\n'\"`$;&|\\") != std::string::npos) {
        fail_at(yaml_location(origin, item.second.Mark()), name,
                ": must be one word without quotes");
      }
      *strings.at(key) = v;
    } else if (ints.count(key)) {
      *ints.at(key) = read_int(item.second, origin, name, 0);
    } else if (key == "extra_sbatch") {
      s.extra_sbatch = read_strings(item.second, origin, name);
    } else if (key == "setup") {
      s.setup = read_strings(item.second, origin, name);
    } else {
      fail_at(yaml_location(origin, item.first.Mark()), "unknown key '", name,
              "' (known: partition, account, qos, time, mem, constraint, gpus_per_task, "
              "cpus_per_task, max_parallel, signal_s, extra_sbatch, setup)");
    }
  }
}

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '+';
    out += ok ? c : '-';
  }
  return out;
}

std::string short_key(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

std::string hex64(uint64_t h, int digits) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::string(buf).substr(0, digits);
}

uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

// Parameter counts and FLOPs per token of the model a (partial) point
// describes, for derive expressions.
class PointAccounting {
 public:
  explicit PointAccounting(const FlatConfig& flat) : flat_(flat) {}

  std::optional<ExprValue> lookup(const std::string& name) const {
    static const std::set<std::string> names = {"non_embedding_params", "embedding_params",
                                                "total_params",         "flops_per_token_6nd",
                                                "flops_per_token_palm", "flops_per_token_md"};
    if (!names.count(name)) return std::nullopt;
    TransformerOptions o;
    o.layers = integer("model.layers");
    o.d_model = integer("model.d_model");
    o.heads = integer("model.heads");
    o.context = integer("model.context");
    o.mlp_ratio = integer("model.mlp_ratio");
    o.qk_norm = text("model.qk_norm") == "true";
    o.attention_sink = text("model.attention_sink") == "true";
    int64_t vocab = integer("model.vocab");
    if (vocab == 0 && text("data.source") == "synthetic") vocab = integer("data.synthetic.vocab");
    if (vocab == 0 && text("data.source") == "zipf_markov") {
      vocab = integer("data.zipf_markov.vocab");
    }
    if (vocab == 0 && text("data.source") == "text" && text("data.tokenizer") == "byte") {
      vocab = 256;
    }
    const bool needs_vocab =
        name == "embedding_params" || name == "total_params" || name == "flops_per_token_palm";
    if (needs_vocab && vocab == 0) {
      throw ExpressionError(name + " needs the vocabulary: set model.vocab in the sweep");
    }
    o.vocab_out = vocab;
    o.vocab_in = vocab + (text("objective.kind") == "diffusion" ? 1 : 0);
    const ParamCounts c = count_params(o);
    const FlopsPerToken f = flops_per_token(o);
    if (name == "non_embedding_params") return ExprValue::of(static_cast<double>(c.non_embedding));
    if (name == "embedding_params") return ExprValue::of(static_cast<double>(c.embedding));
    if (name == "total_params") return ExprValue::of(static_cast<double>(c.total));
    if (name == "flops_per_token_6nd") return ExprValue::of(f.c6nd);
    if (name == "flops_per_token_palm") return ExprValue::of(f.palm);
    return ExprValue::of(f.md);
  }

 private:
  std::string text(const std::string& key) const {
    auto it = flat_.find(key);
    return it != flat_.end() ? it->second.text : schema_by_key().at(key)->default_text;
  }
  int64_t integer(const std::string& key) const {
    auto v = parse_real(text(key));
    if (!v || *v != std::floor(*v)) {
      throw ExpressionError(key + " is '" + text(key) + "', not an integer");
    }
    return static_cast<int64_t>(*v);
  }
  const FlatConfig& flat_;
};

}  // namespace

bool is_sweep_file(const std::string& path) {
  try {
    const YAML::Node root = YAML::LoadFile(path);
    return root.IsMap() && (root["grid"] || root["zip"]);
  } catch (const YAML::Exception&) {
    return false;  // the run-config loader reports the syntax error
  }
}

SweepSpec load_sweep(const std::string& path) {
  SweepSpec spec;
  spec.path = path;
  spec.stem = fs::path(path).stem().string();
  spec.out_dir = "runs/" + spec.stem;
  if (const auto why = why_missing(path); !why.empty()) fail_at(path, "sweep ", why);
  YAML::Node root;
  try {
    root = YAML::Load(read_file(path));
  } catch (const YAML::Exception& e) {
    fail_at(yaml_location(path, e.mark), "YAML syntax error: ", e.msg);
  }
  if (!root.IsMap()) fail_at(path, "a sweep file is a mapping (base, config, grid, zip, ...)");
  const fs::path dir = fs::path(path).parent_path();
  auto relative = [&](const std::string& p) { return (dir / p).lexically_normal().string(); };

  std::set<std::string> names_read;  // by derive, exclude and run_name
  for (const auto& item : root) {
    const std::string key = yaml_key(item.first, path);
    const YAML::Node& v = item.second;
    const std::string at = yaml_location(path, item.first.Mark());
    if (key == "base") {
      for (const auto& b : read_strings(v, path, "base")) {
        spec.base_files.push_back(relative(b));
        if (const auto why = why_missing(spec.base_files.back()); !why.empty()) {
          fail_at(yaml_location(path, v.Mark()), "base: ", why, ": ", spec.base_files.back());
        }
      }
    } else if (key == "out_dir") {
      spec.out_dir = require_scalar(v, path, key);
    } else if (key == "run_name") {
      spec.run_name = require_scalar(v, path, key);
      spec.run_name_location = yaml_location(path, v.Mark());
      for (size_t open = spec.run_name.find('{'); open != std::string::npos;
           open = spec.run_name.find('{', open + 1)) {
        const size_t close = spec.run_name.find('}', open);
        if (close == std::string::npos) fail_at(spec.run_name_location, "run_name: unclosed '{'");
        names_read.insert(spec.run_name.substr(open + 1, close - open - 1));
      }
    } else if (key == "config") {
      spec.fixed = flatten_yaml(v, path);
    } else if (key == "grid") {
      read_axes(v, "", path, "grid", spec.grid);
    } else if (key == "zip") {
      if (!v.IsSequence()) fail_at(at, "zip: expected a list of groups (mappings of lists)");
      for (const auto& group : v) {
        std::vector<SweepAxis> axes;
        read_axes(group, "", path, "zip", axes);
        for (const auto& a : axes) {
          if (a.values.size() != axes.front().values.size()) {
            fail_at(yaml_location(path, group.Mark()), "zip: ", a.key, " has ", a.values.size(),
                    " values but ", axes.front().key, " has ", axes.front().values.size(),
                    "; lists in one zip group vary together and need equal lengths");
          }
        }
        spec.zips.push_back(std::move(axes));
      }
    } else if (key == "derive") {
      if (!v.IsMap()) fail_at(at, "derive: expected a mapping of key: expression");
      for (const auto& d : v) {
        const std::string dkey = yaml_key(d.first, path);
        const std::string loc = yaml_location(path, d.second.Mark());
        try {
          Expression e(require_scalar(d.second, path, "derive " + dkey));
          names_read.insert(e.names().begin(), e.names().end());
          spec.derive.push_back({dkey, std::move(e), loc});
        } catch (const ExpressionError& e) {
          fail_at(loc, "derive ", dkey, ": ", e.what());
        }
      }
    } else if (key == "exclude") {
      if (!v.IsSequence()) fail_at(at, "exclude: expected a list of rules");
      for (const auto& rule : v) {
        ExcludeRule r;
        r.location = yaml_location(path, rule.Mark());
        if (rule.IsScalar()) {
          try {
            r.when.emplace_back(rule.Scalar());
          } catch (const ExpressionError& e) {
            fail_at(r.location, "exclude: ", e.what());
          }
          names_read.insert(r.when.back().names().begin(), r.when.back().names().end());
        } else {
          read_axes(rule, "", path, "exclude", r.match);
          for (const auto& a : r.match) names_read.insert(a.key);
        }
        spec.exclude.push_back(std::move(r));
      }
    } else if (key == "scheduler") {
      read_scheduler(v, path, spec.scheduler);
    } else if (key == "slurm") {
      read_slurm(v, path, spec.slurm);
    } else {
      fail_at(at, "unknown sweep key '", key,
              "' (known: base, out_dir, run_name, config, grid, zip, derive, exclude, scheduler, "
              "slurm)");
    }
  }
  if (spec.grid.empty() && spec.zips.empty()) fail_at(path, "a sweep needs `grid` or `zip`");

  // Every swept key appears once, and each is a config key, a preset list, or
  // a variable that something reads.
  std::map<std::string, std::string> seen;  // key -> where it was defined
  auto define = [&](const std::string& key, const std::string& loc) {
    if (seen.count(key)) fail_at(loc, key, ": already set at ", seen[key]);
    seen[key] = loc;
  };
  std::vector<SweepAxis*> axes;
  for (auto& a : spec.grid) axes.push_back(&a);
  for (auto& g : spec.zips) {
    for (auto& a : g) axes.push_back(&a);
  }
  for (SweepAxis* a : axes) {
    const std::string& loc = a->values.front().location;
    define(a->key, loc);
    if (a->key == kPreset) {
      for (auto& v : a->values) {
        v.text = relative(v.text);
        if (const auto why = why_missing(v.text); !why.empty()) {
          fail_at(v.location, "preset: ", why, ": ", v.text);
        }
      }
    } else if (!is_config_key(a->key) && !names_read.count(a->key)) {
      fail_at(loc, "'", a->key,
              "' is neither a config key (see trainer --help-config) nor a variable that "
              "derive, exclude or run_name reads");
    }
  }
  for (const auto& d : spec.derive) define(d.key, d.location);
  for (const auto& d : spec.derive) {
    if (d.key == kPreset) fail_at(d.location, "derive: 'preset' cannot be derived");
  }
  return spec;
}

std::string config_hash(const RunConfig& config) {
  uint64_t h = fnv1a("scalebed-run-v1");
  for (const auto& [key, value] : config.resolved) {
    if (key == "name" || key == "out_dir" || key == "threads" ||
        key.rfind("distributed.", 0) == 0) {
      continue;  // where and how it runs, not what it computes
    }
    const SchemaEntry& e = *schema_by_key().at(key);
    std::string text = value.text;
    // Numbers hash by value: 1e-3 and 0.001 are the same run.
    const bool numeric = e.type == "int" || e.type == "float" ||
                         ((e.type == "int|auto" || e.type == "float|auto") && text != "auto");
    if (numeric) {
      if (auto v = parse_real(text)) text = format_number(*v);
    }
    std::string default_text = e.default_text;
    if (numeric) {
      if (auto v = parse_real(default_text)) default_text = format_number(*v);
    }
    if (text == default_text) continue;
    h = fnv1a(key + "=" + text + "\n", h);
  }
  return hex64(h, 10);
}

std::string sweep_hash(const std::vector<SweepPoint>& points) {
  uint64_t h = fnv1a("scalebed-sweep-v1");
  for (const auto& p : points) h = fnv1a(p.name + "\n", h);
  return hex64(h, 10);
}

std::vector<SweepPoint> expand_sweep(const SweepSpec& spec) {
  // Config layers are read once.
  FlatConfig base;
  for (const auto& f : spec.base_files) {
    for (auto& [k, v] : load_yaml_layers(f)) base[k] = v;
  }
  std::map<std::string, FlatConfig> presets;

  // One dimension per grid key, one per zip group.
  std::vector<std::vector<const SweepAxis*>> dims;
  std::vector<size_t> sizes;
  for (const auto& a : spec.grid) {
    dims.push_back({&a});
    sizes.push_back(a.values.size());
  }
  for (const auto& g : spec.zips) {
    std::vector<const SweepAxis*> group;
    for (const auto& a : g) group.push_back(&a);
    dims.push_back(group);
    sizes.push_back(g.front().values.size());
  }

  std::vector<SweepPoint> points;
  std::map<std::string, int> by_hash;
  std::vector<size_t> at(dims.size(), 0);
  while (true) {
    // The point's assignments, in file order.
    std::vector<std::pair<const SweepAxis*, const ConfigValue*>> chosen;
    for (size_t d = 0; d < dims.size(); ++d) {
      for (const SweepAxis* a : dims[d]) chosen.emplace_back(a, &a->values[at[d]]);
    }

    FlatConfig flat = base;
    std::map<std::string, std::string> vars;  // sweep variables and display values
    SweepPoint p;
    for (const auto& [axis, value] : chosen) {
      if (axis->key != kPreset) continue;
      if (!presets.count(value->text)) presets[value->text] = load_yaml_layers(value->text);
      for (const auto& [k, v] : presets[value->text]) flat[k] = v;
      vars[kPreset] = fs::path(value->text).stem().string();
    }
    for (const auto& [k, v] : spec.fixed) flat[k] = v;
    for (const auto& [axis, value] : chosen) {
      if (axis->key == kPreset) {
        p.values.emplace_back(kPreset, vars[kPreset]);
        continue;
      }
      if (is_config_key(axis->key)) {
        flat[axis->key] = ConfigValue{value->text, value->location + " (" + axis->key + ")"};
      } else {
        vars[axis->key] = value->text;
      }
      p.values.emplace_back(axis->key, value->text);
    }

    auto text_of = [&](const std::string& key) -> std::optional<std::string> {
      if (vars.count(key)) return vars.at(key);
      if (flat.count(key)) return flat.at(key).text;
      if (is_config_key(key)) return schema_by_key().at(key)->default_text;
      return std::nullopt;
    };
    PointAccounting accounting(flat);
    const NameLookup lookup = [&](const std::string& name) -> std::optional<ExprValue> {
      if (auto t = text_of(name)) return value_of_text(*t);
      return accounting.lookup(name);
    };
    auto describe_point = [&] {
      std::string s;
      for (const auto& [k, v] : p.values) s += (s.empty() ? "" : ", ") + k + "=" + v;
      return s;
    };

    for (const auto& d : spec.derive) {
      ExprValue v;
      try {
        v = d.expression.evaluate(lookup);
      } catch (const ExpressionError& e) {
        fail_at(d.location, "derive ", d.key, " at point {", describe_point(), "}: ", e.what());
      }
      std::string text = v.is_string ? v.text : format_number(v.number);
      if (is_config_key(d.key) && !v.is_string) {
        const std::string& type = schema_by_key().at(d.key)->type;
        if (type == "int" || type == "int|auto") {
          if (std::fabs(v.number - std::round(v.number)) >
              1e-9 * std::max(1.0, std::fabs(v.number))) {
            fail_at(d.location, "derive ", d.key, " = ", text, " at point {", describe_point(),
                    "} is not an integer; wrap the expression in floor(), ceil() or round()");
          }
          text = format_number(std::round(v.number));
        } else if (type == "bool") {
          text = v.number != 0 ? "true" : "false";
        }
      }
      if (is_config_key(d.key)) {
        flat[d.key] = ConfigValue{text, d.location + " (derive " + d.key + ")"};
      } else {
        vars[d.key] = text;
      }
      p.values.emplace_back(d.key, text);
    }

    bool excluded = false;
    for (const auto& rule : spec.exclude) {
      bool all = true;
      for (const auto& a : rule.match) {
        const auto t = text_of(a.key);
        bool any = false;
        for (const auto& v : a.values) any = any || (t && same_value(*t, v.text));
        all = all && any;
      }
      for (const auto& e : rule.when) {
        try {
          const ExprValue v = e.evaluate(lookup);
          if (v.is_string) fail_at(rule.location, "exclude: '", e.source(), "' is not a condition");
          all = all && v.number != 0;
        } catch (const ExpressionError& err) {
          fail_at(rule.location, "exclude at point {", describe_point(), "}: ", err.what());
        }
      }
      excluded = excluded || all;
    }

    if (!excluded) {
      std::string readable;
      if (!spec.run_name.empty()) {
        readable = spec.run_name;
        size_t open;
        while ((open = readable.find('{')) != std::string::npos) {
          const size_t close = readable.find('}', open);
          const std::string key = readable.substr(open + 1, close - open - 1);
          const auto t = text_of(key);
          if (!t) fail_at(spec.run_name_location, "run_name: unknown key '", key, "'");
          readable.replace(open, close - open + 1, *t);
        }
      } else {
        for (const auto& [axis, value] : chosen) {
          if (axis->values.size() < 2) continue;  // the same for every point
          const std::string shown = axis->key == kPreset ? vars[kPreset] : value->text;
          const bool word = !parse_real(shown);
          readable += (readable.empty() ? "" : "_") + (word ? shown : short_key(axis->key) + shown);
        }
        if (readable.empty()) readable = spec.stem;
      }
      readable = sanitize(readable).substr(0, 100);

      flat["out_dir"] = ConfigValue{spec.out_dir, spec.path + " (out_dir)"};
      flat["name"] = ConfigValue{readable, spec.path + " (run_name)"};
      p.config = build_run_config(flat, spec.path);
      p.hash = config_hash(p.config);
      p.name = readable + "-" + p.hash;
      p.config.name = p.name;
      p.config.resolved["name"].text = p.name;
      p.index = static_cast<int>(points.size());
      if (by_hash.count(p.hash)) {
        const SweepPoint& other = points[by_hash[p.hash]];
        std::string other_values;
        for (const auto& [k, v] : other.values) {
          other_values += (other_values.empty() ? "" : ", ") + k + "=" + v;
        }
        fail_at(spec.path, "points ", other.index, " {", other_values, "} and {", describe_point(),
                "} are the same run (identical resolved configs); remove the duplicate value");
      }
      by_hash[p.hash] = p.index;
      PointAccounting final_accounting(p.config.resolved);
      p.planned_flops_md = final_accounting.lookup("flops_per_token_md")->number *
                           static_cast<double>(p.config.train.steps * p.config.tokens_per_step());
      points.push_back(std::move(p));
    }

    // Odometer: the last dimension varies fastest.
    int d = static_cast<int>(dims.size()) - 1;
    while (d >= 0 && ++at[d] == sizes[d]) at[d--] = 0;
    if (d < 0) break;
  }
  if (points.empty()) fail_at(spec.path, "every point is excluded");
  return points;
}

}  // namespace scalebed
