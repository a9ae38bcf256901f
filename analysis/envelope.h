// Chinchilla Approach 1 (analysis.md): the lower envelope of loss vs FLOPs.
// The Pareto frontier keeps every point that no point with fewer FLOPs
// beats; on it, L(C) = E + A·C^−α is fitted (E by a 1-D search, A and α by
// least squares in log(L − E) for each E), and N_opt ∝ C^a, D_opt ∝ C^b by
// log-log regression of the frontier points' sizes and tokens. With a known
// floor, E is searched from the floor up: the frontier cannot approach a
// loss below it.
#pragma once

#include <cstdint>
#include <vector>

#include "isoflop.h"
#include "points.h"

namespace scalebed::analysis {

struct EnvelopeResult {
  std::vector<Point> frontier;     // sorted by FLOPs
  double E = 0, A = 0, alpha = 0;  // L(C) = E + A·C^−α on the frontier
  PowerLaw n_opt, d_opt;
  bool fitted = false;  // needs at least 4 frontier points
  std::string note;     // why not fitted, or that E sits on the floor
};

std::vector<Point> pareto_frontier(std::vector<Point> points);
EnvelopeResult fit_envelope(const std::vector<Point>& points, double floor = 0);

// Percentile intervals of the envelope's exponents over fits to points
// resampled with replacement (resamples whose frontier is too short are skipped).
struct EnvelopeBootstrap {
  int refits = 0;
  double alpha_low = 0, alpha_high = 0, n_exponent_low = 0, n_exponent_high = 0;
};
EnvelopeBootstrap bootstrap_envelope(const std::vector<Point>& points, int resamples, uint64_t seed,
                                     double level = 0.95, double floor = 0);

}  // namespace scalebed::analysis
