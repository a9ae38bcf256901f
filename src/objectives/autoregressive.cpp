// Autoregressive objective: next-token cross-entropy on a causal backbone.
#include "model/chunked_head.h"
#include "objectives/objective.h"

#include "util/error.h"

namespace scalebed {
namespace {

class Autoregressive : public Objective {
 public:
  std::string kind() const override { return "ar"; }
  std::string loss_kind() const override { return "nll"; }
  bool causal() const override { return true; }
  std::pair<int64_t, int64_t> scored_span(int64_t context) const override {
    return {1, context + 1};  // predict tokens 1..T from their prefixes
  }

  ObjectiveOutput train_loss(TransformerImpl& model, const torch::Tensor& windows, uint64_t,
                             int64_t) override {
    return next_token_nll(model, windows);
  }
  ObjectiveOutput eval_loss(TransformerImpl& model, const torch::Tensor& windows,
                            int64_t) override {
    return next_token_nll(model, windows);
  }

  torch::Tensor sample(TransformerImpl& model, const SampleOptions& o,
                       const torch::Tensor& prompt) override {
    torch::NoGradGuard no_grad;
    const int64_t length = o.length > 0 ? o.length : model.options().context;
    auto gen = at::detail::createCPUGenerator(o.seed);
    auto device = model.embed->weight.device();
    auto seq = prompt.defined() ? prompt.expand({o.num, prompt.size(1)}).clone()
                                : torch::randint(0, model.options().vocab_out, {o.num, 1}, gen);
    seq = seq.to(device);
    while (seq.size(1) < length) {
      // Ancestral sampling from the last position, within the context window.
      auto window = seq.narrow(1, std::max<int64_t>(0, seq.size(1) - model.options().context),
                               std::min(seq.size(1), model.options().context));
      auto logits =
          model.forward(window).select(1, window.size(1) - 1).to(torch::kCPU);  // (num, V)
      torch::Tensor next;
      if (o.temperature <= 0) {
        next = logits.argmax(1, true);
      } else {
        next = torch::multinomial(torch::softmax(logits / o.temperature, 1), 1, false, gen);
      }
      seq = torch::cat({seq, next.to(device)}, 1);
    }
    return seq.to(torch::kCPU);
  }

 private:
  static ObjectiveOutput next_token_nll(TransformerImpl& model, const torch::Tensor& windows) {
    const int64_t T = windows.size(1) - 1;
    auto inputs = windows.narrow(1, 0, T);   // (B, T)
    auto targets = windows.narrow(1, 1, T);  // (B, T)
    auto nll_sum =
        model
            .head_loss(model.hidden(inputs),
                       c10::make_intrusive<CrossEntropyRows>(targets.reshape({-1})))  // (B·T)
            .sum();
    ObjectiveOutput out;
    out.metric_count = targets.numel();
    out.metric_sum = nll_sum.detach();
    out.loss = nll_sum / static_cast<double>(out.metric_count);
    return out;
  }
};

}  // namespace

std::unique_ptr<Objective> make_objective(const ObjectiveConfig& cfg) {
  if (cfg.kind == "ar") return std::make_unique<Autoregressive>();
  if (cfg.kind == "diffusion") return make_diffusion_objective(cfg);
  throw Error("objective.kind: unknown objective '" + cfg.kind + "'");
}

}  // namespace scalebed
