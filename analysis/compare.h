// Objective against objective (analysis.md, trade-offs): the compute-optimal
// loss L*(C) of each group (objective / noise type) of one sweep, their
// ratios across budgets, where their curves cross, and published reference
// laws overlaid for a reproduction to be read against point by point.
//
// L*(C) of a group comes from its Approach-3 surface when that allows an
// allocation, else from its IsoFLOP law L_opt = k·C^e.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "isoflop.h"
#include "surface_fit.h"
#include "validity.h"

namespace scalebed::analysis {

struct GroupLaws {
  std::string name;  // e.g. "diffusion-masked"
  SurfaceLaw surface;
  IsoflopResult isoflop;
  double c_min = 0, c_max = 0;  // fitted FLOPs
  // Bootstrap refits of whichever law gives L*(C): surfaces (Approach 3) or
  // IsoFLOP loss laws (Approach 2).
  std::vector<SurfaceLaw> surface_boot;
  std::vector<PowerLaw> loss_opt_boot;
  // The group's known floor and extrapolation limit (its fitted range is
  // c_min, c_max above).
  Validity validity;
  bool can_plan() const { return surface.allocatable() || isoflop.fitted; }
  const char* source() const { return surface.allocatable() ? "Approach 3" : "Approach 2"; }
  // Approach 3's surface has an irreducible term; Approach 2's k·C^e has none.
  bool law_has_floor() const { return surface.allocatable(); }
  double optimal_loss(double flops) const;
  // Empty when L*(C) may be printed (validity.h), else why not.
  std::string refusal(double flops) const;
  // L*(C) as a table cell, "—" when refused (the reason goes to `notes`).
  std::string cell(double flops, std::vector<std::string>* notes) const;
  // L*(C) under bootstrap refit r (r < resamples()).
  size_t resamples() const;
  double optimal_loss(double flops, size_t r) const;
};

// 95% interval of L*_a(C) / L*_b(C) over paired bootstrap refits (the groups'
// resamples are independent, so refit r of one is paired with refit r of the other).
// With floors: of the reducible losses (L*_a − a_floor) / (L*_b − b_floor); the
// high end is +inf when more than 2.5% of the refits leave b nothing above its floor.
Interval ratio_interval(const GroupLaws& a, const GroupLaws& b, double flops, double a_floor = 0,
                        double b_floor = 0);

// A published law: L*(C) = k·C^e, or a surface E + A/X^α + B/D^β whose
// optimum under C = X·D (the diffusion paper counts X = M, FLOPs per token).
struct ReferencePoint {
  std::string label;
  double flops = 0, loss = 0;  // a published run: its compute and loss
};

struct ReferenceLaw {
  std::string name, group;  // group: the --group-by value it is compared with (may be empty)
  std::optional<PowerLaw> loss_opt;
  std::optional<SurfaceLaw> surface;  // with surface->k = 1 when C = X·D
  // Optional: the allocation laws published with it, the FLOPs it was fitted
  // on (0 when not given), runs published beside it, and where each number
  // comes from.
  std::optional<PowerLaw> m_opt, tokens_opt, params_opt;
  double range_lo = 0, range_hi = 0;
  std::vector<ReferencePoint> points;
  std::string cite;
  double optimal_loss(double flops) const;
  // Outside the FLOPs the law was fitted on (false when its range is unknown).
  bool outside_range(double flops) const;
  std::string range_text() const;  // "fitted 5e+17 – 2e+20 FLOPs", or ""
};

// Reads {"laws": [{"name", "group", "loss_opt": {"k", "exponent"}} |
// {"name", "group", "surface": {"E", "A", "alpha", "B", "beta", "k"}}, each
// optionally with "m_opt", "tokens_opt", "params_opt" ({"k", "exponent"}),
// "flops_range": [lo, hi], "points": [{"label", "flops", "loss"}], "cite"]}.
// Throws AnalysisError naming the file and the entry.
std::vector<ReferenceLaw> read_reference_laws(const std::string& path);

// The diffusion paper's cooldown factor: its constant-LR runs' losses are
// 1.0245 (99% CI ±0.00138) times those of the same runs cooled down
// (dvruette/gidd-easydel notebooks/cooldown_ablations.ipynb, cell 8).
constexpr double kPaperCooldownFactor = 1.0245;

// `r` as it would read for cooled-down runs: every loss (law, surface, runs)
// divided by kPaperCooldownFactor, and the name says so.
void with_cooldown(ReferenceLaw& r);

// A published hyperparameter law: best = k·x^exponent (k 0 when only the
// exponent is published), x the tokens for "batch_vs_tokens", as the source
// states it for "lr".
struct ReferenceHyperparameterLaw {
  std::string name, group, law, cite;
  double k = 0, exponent = 0;
};

// The file's optional "hyperparameters" array; empty when it has none.
std::vector<ReferenceHyperparameterLaw> read_reference_hyperparameters(const std::string& path);

struct Crossing {
  std::string first, second;
  double flops = 0;  // where L*_first = L*_second (log-grid root, refined by bisection)
};

// Crossings of every pair's L*(C) between lo and hi FLOPs, where both may be
// printed (a crossing of refused predictions is not reported).
std::vector<Crossing> find_crossings(const std::vector<GroupLaws>& groups, double lo, double hi);

// comparison.md / comparison.html / optimal_loss.svg in `dir`.
void write_comparison(const std::string& dir, const std::string& group_key,
                      const std::vector<GroupLaws>& groups,
                      const std::vector<ReferenceLaw>& references,
                      const std::vector<ReferenceHyperparameterLaw>& hyperparameters = {});

}  // namespace scalebed::analysis
