// Parameterization: the one place that decides how each parameter group is
// initialised and how the optimizer treats it (LR, weight decay and epsilon
// multipliers), plus the forward multipliers of the residual branches and the
// LM head. The model asks it at construction; the optimizer builder reads its
// groups. Parameters are grouped by role, from their names:
//   hidden     q, k, v, o, MLP up/down matrices
//   embedding  the input token embedding
//   head       the LM head (output projection)
//   vector     norm gains, biases, attention-sink slots
#pragma once

#include <string>

#include "config/config.h"

namespace scalebed {

enum class ParamGroup { kHidden, kEmbedding, kHead, kVector };
const char* group_name(ParamGroup g);
// The group of a parameter from its registered name ("blocks.0.attn.q.weight").
ParamGroup group_of(const std::string& parameter_name);

struct GroupRule {
  double init_std;       // N(0, init_std²); 0 = zero init
  double lr_multiplier;  // × base LR
  double weight_decay;   // absolute decoupled weight decay
  double eps;            // optimizer epsilon
};

class Parameterization {
 public:
  Parameterization(const ParameterizationConfig& p, const ModelConfig& m, const OptimConfig& o);
  GroupRule rule(ParamGroup g) const;
  double residual_scale() const { return residual_scale_; }
  double head_scale() const { return head_scale_; }
  std::string describe(double base_lr) const;  // the groups' values, for --dry-run

 private:
  std::string kind_;
  ParameterizationConfig cfg_;
  double weight_decay_, eps_, width_ = 1, depth_ = 1;
  double residual_scale_ = 1.0, head_scale_ = 1.0;
};

}  // namespace scalebed
