// The standard parameterization (fixed LR, N(0, 0.02²) matrices).
#include "model/parameterization.h"

#include <sstream>

#include "util/error.h"

namespace scalebed {

const char* group_name(ParamGroup g) {
  switch (g) {
    case ParamGroup::kHidden:
      return "hidden";
    case ParamGroup::kEmbedding:
      return "embedding";
    case ParamGroup::kHead:
      return "head";
    case ParamGroup::kVector:
      return "vector";
  }
  return "?";
}

ParamGroup group_of(const std::string& name) {
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (name == "embed.weight") return ParamGroup::kEmbedding;
  if (name == "head.weight") return ParamGroup::kHead;
  if (ends_with("norm.weight") || ends_with(".bias") || ends_with("sink_key") ||
      ends_with("sink_value")) {
    return ParamGroup::kVector;
  }
  if (ends_with(".weight")) return ParamGroup::kHidden;
  fail_at(__FILE__, "parameter '", name, "' has no parameterization group");
}

Parameterization::Parameterization(const ParameterizationConfig& p, const ModelConfig&,
                                   const OptimConfig& o)
    : kind_(p.kind), init_std_(p.init_std), weight_decay_(o.weight_decay), eps_(o.eps) {
  SB_CHECK(kind_ == "standard", "unknown parameterization ", kind_);
}

GroupRule Parameterization::rule(ParamGroup g) const {
  switch (g) {
    case ParamGroup::kHidden:
      return {init_std_, 1.0, weight_decay_, eps_};
    case ParamGroup::kEmbedding:
      return {init_std_, 1.0, 0.0, eps_};
    case ParamGroup::kHead:
      return {init_std_, 1.0, 0.0, eps_};
    case ParamGroup::kVector:
      return {0.0, 1.0, 0.0, eps_};
  }
  return {};
}

std::string Parameterization::describe() const {
  std::ostringstream out;
  out << "parameterization " << kind_ << ": residual x" << residual_scale_ << ", head x"
      << head_scale_ << "\n";
  for (ParamGroup g :
       {ParamGroup::kHidden, ParamGroup::kEmbedding, ParamGroup::kHead, ParamGroup::kVector}) {
    const GroupRule r = rule(g);
    out << "  " << group_name(g) << ": init std " << r.init_std << ", lr x" << r.lr_multiplier
        << ", weight decay " << r.weight_decay << ", eps " << r.eps << "\n";
  }
  return out.str();
}

}  // namespace scalebed
