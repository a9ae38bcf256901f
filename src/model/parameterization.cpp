// The standard parameterization (fixed LR, N(0, 0.02²) matrices) and
// CompleteP (model.md; Dey et al. 2025) with configurable base width/depth.
#include "model/parameterization.h"

#include <cmath>
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

Parameterization::Parameterization(const ParameterizationConfig& p, const ModelConfig& m,
                                   const OptimConfig& o)
    : kind_(p.kind), cfg_(p), weight_decay_(o.weight_decay), eps_(o.eps) {
  SB_CHECK(kind_ == "standard" || kind_ == "completep", "unknown parameterization ", kind_);
  width_ = static_cast<double>(m.d_model);
  depth_ = static_cast<double>(m.layers);
  if (kind_ == "completep") {
    residual_scale_ = p.base_depth / depth_;
    head_scale_ = p.head_base / width_;
    eps_ = o.eps * (p.base_width / width_) * (p.base_depth / depth_);
  }
}

GroupRule Parameterization::rule(ParamGroup g) const {
  if (kind_ == "standard") {
    switch (g) {
      case ParamGroup::kHidden:
        return {cfg_.init_std, 1.0, weight_decay_, eps_};
      case ParamGroup::kEmbedding:
        return {cfg_.init_std, 1.0, 0.0, eps_};
      case ParamGroup::kHead:
        return {cfg_.init_std, 1.0, 0.0, eps_};
      case ParamGroup::kVector:
        return {0.0, 1.0, 0.0, eps_};
    }
  }
  // CompleteP: hidden LR ∝ 1/d, hidden weight decay ∝ d, 1/√d init; the
  // embedding, the zero-initialised head and all vectors at vector_lr·η.
  switch (g) {
    case ParamGroup::kHidden:
      return {cfg_.hidden_init / std::sqrt(width_), cfg_.base_width / width_,
              weight_decay_ * width_ / cfg_.base_width, eps_};
    case ParamGroup::kEmbedding:
      return {cfg_.init_std, cfg_.vector_lr, 0.0, eps_};
    case ParamGroup::kHead:
      return {0.0, cfg_.vector_lr, 0.0, eps_};
    case ParamGroup::kVector:
      return {0.0, cfg_.vector_lr, 0.0, eps_};
  }
  return {};
}

std::string Parameterization::describe(double base_lr) const {
  std::ostringstream out;
  out << "parameterization " << kind_ << ": residual branches x" << residual_scale_
      << ", LM head output x" << head_scale_ << "\n";
  for (ParamGroup g :
       {ParamGroup::kHidden, ParamGroup::kEmbedding, ParamGroup::kHead, ParamGroup::kVector}) {
    const GroupRule r = rule(g);
    out << "  " << group_name(g) << ": init std " << r.init_std << ", lr "
        << base_lr * r.lr_multiplier << " (base x" << r.lr_multiplier << "), weight decay "
        << r.weight_decay << ", eps " << r.eps << "\n";
  }
  return out.str();
}

}  // namespace scalebed
