// The seam between synthetic sources and the trainer's floor: a source whose
// likelihood is exactly computable reports −log p of any window under the
// true process, so the loss no model can beat is known on the very windows a
// run is evaluated on.
#pragma once

#include <cstdint>

namespace scalebed {

class ExactSource {
 public:
  virtual ~ExactSource() = default;
  // −log p(x[skip..n) | x[0..skip)) in nats: the Bayes-optimal loss of a
  // model that sees the window from its first token.
  virtual double window_nll(const uint32_t* tokens, int64_t n, int64_t skip) const = 0;
};

}  // namespace scalebed
