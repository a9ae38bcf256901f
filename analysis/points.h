// Scaling-law data points: (params, tokens, loss[, flops]) rows, read from a
// plain CSV with a header (column names as in shared/data and in a sweep's
// collected table). Part of the analysis stage: Eigen and the standard
// library only, never LibTorch.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace scalebed::analysis {

struct Point {
  double params = 0, tokens = 0, loss = 0, flops = 0;  // flops 0 when not given
  std::map<std::string, std::string> extra;            // every other column, verbatim
  double weight = 1;  // in the surface fit's sum (apply_seed_weights), 1 unless set
};

class AnalysisError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads a CSV whose header names at least `params`, `tokens` and `loss`
// (`flops` optional; missing flops are 6·N·D), or a sweep's collected table
// (params_non_embedding, tokens, final_val_loss, flops_<convention>; rows
// whose status is not "done" are skipped and counted in `skipped`). Throws
// AnalysisError naming file:line and column for a missing column, a
// non-numeric or non-positive value.
std::vector<Point> read_points_csv(const std::string& path, const std::string& convention = "",
                                   int* skipped = nullptr);

// Why a point cannot be fitted ("" when it can): its params, tokens, loss and
// flops must be finite and positive. One rule for CSV rows and run directories.
std::string point_problem(const Point& p);

// Points that are valid but should be questioned: duplicated rows (they narrow
// the bootstrap intervals without adding information), and FLOPs whose
// k = C/(N·D) lies outside 2..30 per parameter and token under any convention
// (a column in the wrong unit). One line per finding; empty when none.
std::vector<std::string> input_warnings(const std::vector<Point>& points);

// A numeric extra column of a point (batch_tokens, base_lr, ...); 0 when it
// is absent or not a number.
double extra_number(const Point& p, const std::string& key);

// Values within about 1% share a key: sizes, batches and LRs read back from
// text compare equal through it (0 for values <= 0).
long log_bucket(double value);

// k of C = k·N·D: the median of flops/(params·tokens) over the points (6
// when the FLOPs are 6ND).
double flops_per_param_token(const std::vector<Point>& points);

// The points without the `count` highest losses (Epoch's outlier rule).
std::vector<Point> drop_highest_losses(std::vector<Point> points, size_t count);

}  // namespace scalebed::analysis
