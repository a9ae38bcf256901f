// Per-point weights for the surface fit from the spread of seeds (issue 17):
// a point whose setting scatters much from seed to seed says less about the
// law than one whose seeds agree. Each point gets weight 1/σ²_i, σ²_i the
// variance of its log loss: its setting's sample variance over seeds, shrunk
// towards the pooled variance of all settings (ν = 2 pseudo-degrees of
// freedom, so that two seeds that agree by chance do not get an unbounded
// weight), divided by the seed count where the point is already the seeds'
// mean. Weights are scaled to mean 1, so the Huber δ keeps its meaning.
#pragma once

#include <string>
#include <vector>

#include "points.h"

namespace scalebed::analysis {

struct SeedWeights {
  bool applied = false;   // some setting was run with two or more seeds
  bool disabled = false;  // analyze --no-seed-weights
  int settings_with_seeds = 0;
  double pooled_sd = 0;  // of log loss between seeds of one setting
  double min_weight = 1, max_weight = 1;
  std::string describe() const;  // one sentence for the guide
};

// A setting is (size, tokens, batch, LR) (or the budget instead of tokens for
// points read off curves); its seeds are the points that differ only in
// "seed", or one averaged point carrying "seeds" and "seed_log_var"
// (best_per_budget_and_size). Sets Point::weight; leaves every weight 1 when
// no setting has two seeds.
SeedWeights apply_seed_weights(std::vector<Point>& points);

}  // namespace scalebed::analysis
