// Small backbones for the model tests: one shape (L2, d 32, 4 heads) and a
// model whose every parameter is random, seeded (a non-trivial sink, norm
// gains and biases, which the default zero inits would hide).
#pragma once

#include <torch/torch.h>

#include "model/transformer.h"

namespace scalebed::testing {

inline TransformerOptions small_backbone(int64_t context = 16, int64_t vocab = 50) {
  TransformerOptions o;
  o.layers = 2;
  o.d_model = 32;
  o.heads = 4;
  o.context = context;
  o.vocab_in = o.vocab_out = vocab;
  return o;
}

inline Transformer random_model(const TransformerOptions& o, uint64_t seed = 0) {
  torch::manual_seed(seed);
  Transformer m(o);
  torch::NoGradGuard g;
  for (auto& p : m->parameters()) p.normal_(0.0, 0.3);
  return m;
}

}  // namespace scalebed::testing
