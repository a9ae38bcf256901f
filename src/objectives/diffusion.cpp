// Discrete-diffusion objective: GIDD noise on a bidirectional backbone,
// trained with the paper's weighting or the unbiased ELBO; the ELBO is always
// what is logged and evaluated (with stratified, fixed-seed λ).
#include <cmath>

#include "data/data.h"
#include "objectives/gidd.h"
#include "objectives/objective.h"
#include "util/error.h"

namespace scalebed {
namespace {

torch::Generator generator(uint64_t seed) {
  return at::detail::createCPUGenerator(seed & 0x7FFFFFFFFFFFFFFFull);
}

class Diffusion : public Objective {
 public:
  explicit Diffusion(const ObjectiveConfig& cfg) : cfg_(cfg) {}

  std::string kind() const override { return "diffusion"; }
  std::string loss_kind() const override { return "elbo"; }
  bool causal() const override { return false; }
  // The mask one past the data's ids, or the tokenizer's own inside them.
  int64_t input_vocab(int64_t data_vocab) const override {
    return cfg_.mask_id >= 0 ? std::max(data_vocab, cfg_.mask_id + 1) : data_vocab + 1;
  }
  int64_t output_vocab(int64_t data_vocab) const override {
    return cfg_.mask_id >= 0 ? input_vocab(data_vocab) : data_vocab;
  }
  std::pair<int64_t, int64_t> scored_span(int64_t context) const override { return {0, context}; }
  int64_t eval_forward_passes() const override { return cfg_.eval_lambdas; }
  nlohmann::json summary_fields() const override {
    nlohmann::json fields = {{"noise",
                              {{"name", cfg_.noise},
                               {"mixing_shift", cfg_.mixing_shift},
                               {"mixing_scale", cfg_.mixing_scale}}},
                             {"weighting", cfg_.weighting}};
    if (cfg_.mask_id >= 0) fields["mask_id"] = cfg_.mask_id;  // the tokenizer's own
    if (cfg_.prompt_fraction > 0) fields["prompt_fraction"] = cfg_.prompt_fraction;
    return fields;
  }
  // The tokenizer's own mask id: the shards' meta.json must name the same one,
  // and no data token may be it (GIDD's real tokens are every id but the
  // mask: one equal to it would be read as the real token above it).
  void check_data(const Dataset& data) const override {
    const int64_t mask = cfg_.mask_id;
    if (mask < 0) return;
    if (data.tokenizer_mask_id >= 0 && mask != data.tokenizer_mask_id) {
      fail_at("objective.mask_id", mask, " is not the tokenizer's mask id ", data.tokenizer_mask_id,
              " (meta.json beside data.path)");
    }
    if (data.generator && mask < data.vocab) {
      fail_at("objective.mask_id", mask, " is a token of the generated data (vocab ", data.vocab,
              "); use an id >= ", data.vocab);
    }
    const std::string why = "the data holds objective.mask_id, the tokenizer's mask token";
    check_absent(data.train, mask, why);
    check_absent(data.val, mask, why);
  }

  ObjectiveOutput train_loss(TransformerImpl& model, const torch::Tensor& windows,
                             uint64_t step_seed, int64_t first_row) override {
    auto x = windows.narrow(1, 0, windows.size(1) - 1);  // (B, T) clean tokens
    const int64_t B = x.size(0), T = x.size(1);
    // Row by row, each from its own generator: one λ per sequence, or for a
    // configurable share of sequences one per token; then the corruption.
    std::vector<torch::Tensor> u;
    NoiseRows rows;
    std::vector<int64_t> prompt(B, 0);
    for (int64_t b = 0; b < B; ++b) {
      auto gen = generator(mix_seed(step_seed, static_cast<uint64_t>(first_row + b), 0));
      auto row_u = torch::rand({1}, gen).expand({T});
      if (cfg_.per_token_lambda_fraction > 0) {
        auto per_token = torch::rand({T}, gen);
        if (torch::rand({1}, gen).item<double>() < cfg_.per_token_lambda_fraction)
          row_u = per_token;
      }
      u.push_back(row_u);
      rows.draw(T, gen);
      if (cfg_.prompt_fraction > 0) {  // drawn last: runs without prompts keep their noise
        const bool has_prompt = torch::rand({1}, gen).item<double>() < cfg_.prompt_fraction;
        const double r = torch::rand({1}, gen).item<double>();
        if (has_prompt) prompt[b] = gidd::prompt_length(r, T);
      }
    }
    auto log_snr = gidd::log_snr_from_uniform(torch::stack(u), process(model));  // (B, T)
    if (cfg_.prompt_fraction == 0) prompt.clear();
    return loss_at(model, x, log_snr.to(x.device()), rows.stack(), /*train=*/true, prompt);
  }

  ObjectiveOutput eval_loss(TransformerImpl& model, const torch::Tensor& windows,
                            int64_t first_row) override {
    auto x = windows.narrow(1, 0, windows.size(1) - 1);
    const int64_t B = x.size(0), T = x.size(1), K = cfg_.eval_lambdas;
    ObjectiveOutput total;
    total.metric_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64));
    for (int64_t k = 0; k < K; ++k) {
      // Row r, stratum k: λ from the k-th of K equal slices of t, and noise,
      // all seeded by (row, k) alone, so every run and checkpoint sees them.
      std::vector<torch::Tensor> u;
      NoiseRows rows;
      for (int64_t b = 0; b < B; ++b) {
        auto gen = generator(mix_seed(0x5CA1EBEDull, first_row + b, k));
        u.push_back((k + torch::rand({1}, gen)) / static_cast<double>(K));
        rows.draw(T, gen);
      }
      auto log_snr = gidd::log_snr_from_uniform(torch::stack(u).expand({B, T}), process(model));
      auto out = loss_at(model, x, log_snr.to(x.device()), rows.stack(), /*train=*/false);
      total.metric_sum = total.metric_sum + out.metric_sum.to(torch::kCPU, torch::kFloat64);
    }
    total.metric_sum = total.metric_sum / static_cast<double>(K);
    total.metric_count = B * T;
    total.loss = total.metric_sum / static_cast<double>(total.metric_count);
    return total;
  }

  // Ancestral or adaptive (confidence top-k) denoising from the prior:
  // all-mask for masked and hybrid noise, uniform tokens for pure uniform.
  torch::Tensor sample(TransformerImpl& model, const SampleOptions& o,
                       const torch::Tensor&) override {
    torch::NoGradGuard no_grad;
    const auto p = process(model);
    const auto ids = layout(model);  // z lives in GIDD ids; the model reads and writes its own
    const int64_t N = p.vocab, L = o.length > 0 ? o.length : model.options().context;
    auto gen = generator(o.seed);
    auto device = model.embed->weight.device();
    // Grid of signal rates α_0 < … < α_K from the prior to the data.
    const double a_min = 1 / (1 + std::exp(-p.lambda_min)),
                 a_max = 1 / (1 + std::exp(-p.lambda_max));
    std::vector<double> log_snr(o.steps + 1);
    for (int64_t k = 0; k <= o.steps; ++k) {
      const double u = static_cast<double>(k) / o.steps;
      const double frac = o.grid == "linear" ? u : 1 - std::cos(M_PI * u / 2);
      const double alpha = a_min + (a_max - a_min) * frac;
      log_snr[k] = std::log(alpha / (1 - alpha));
    }
    const double s_prior = 1 / (1 + std::exp(-(p.mixing_scale * log_snr[0] + p.mixing_shift)));
    auto z = s_prior > 0.5 ? torch::randint(0, N, {o.num, L}, gen)
                           : torch::full({o.num, L}, N, torch::kLong);
    auto pi_of = [&](double lam) {  // π_λ over N + 1 ids
      const double s = 1 / (1 + std::exp(-(p.mixing_scale * lam + p.mixing_shift)));
      auto pi = torch::full({N + 1}, s / N, torch::kFloat64);
      pi[N] = 1 - s;
      return pi;
    };
    const auto pi_prior = pi_of(log_snr[0]);  // the noise distribution sampling starts from
    // x̂ over N + 1 ids (x̂(m) = 0), (num, L, N+1): at the sampling temperature
    // (0: one-hot at the argmax), or untempered (what the adaptive sampler scores).
    auto over_ids = [&](const torch::Tensor& probs) {
      return torch::cat({probs, torch::zeros({o.num, L, 1}, torch::kFloat64)}, -1);
    };
    auto logits_of = [&](const torch::Tensor& zt) {  // (num, L, N)
      return ids.real_logits(model.forward(ids.to_model(zt).to(device)))
          .to(torch::kCPU, torch::kFloat64);
    };
    auto tempered = [&](const torch::Tensor& logits) {
      return over_ids(o.temperature > 0 ? torch::softmax(logits / o.temperature, -1)
                                        : torch::one_hot(logits.argmax(-1), N).to(torch::kFloat64));
    };
    auto denoiser = [&](const torch::Tensor& zt) { return tempered(logits_of(zt)); };
    auto draw = [&](const torch::Tensor& probs) {  // (…, V) -> (…)
      auto flat = probs.reshape({-1, probs.size(-1)});
      return torch::multinomial(flat, 1, false, gen).view(probs.sizes().slice(0, probs.dim() - 1));
    };
    const int64_t per_step = (L + o.steps - 1) / o.steps;
    for (int64_t k = 0; k < o.steps; ++k) {
      const double lt = log_snr[k], ls = log_snr[k + 1];
      const auto logits = logits_of(z);
      auto xhat = tempered(logits);
      if (o.sampler == "adaptive") {
        // Update the positions where the denoiser most disagrees with z, weighted
        // by how noise-like z is under the prior: (max x̂ − x̂(z))·π_prior(z),
        // with the untempered x̂ as the reference sampler scores (the
        // temperature shapes the proposals only).
        auto plain = over_ids(torch::softmax(logits, -1));
        auto current = plain.gather(-1, z.unsqueeze(-1)).squeeze(-1);
        auto score = (std::get<0>(plain.max(-1)) - current) * pi_prior.index({z});
        auto top = std::get<1>(score.topk(std::min(per_step, L), 1));
        auto proposal = draw(xhat.narrow(-1, 0, N));
        z.scatter_(1, top, proposal.gather(1, top));
        continue;
      }
      // Ancestral: p(z_s | z_t) ∝ q_s(·|x̂) ⊙ q_{t|s}(z_t | ·).
      const double at = 1 / (1 + std::exp(-lt)), as = 1 / (1 + std::exp(-ls));
      const double a_ts = at / as;
      auto beta_pi_ts = (1 - at) * pi_of(lt) - a_ts * (1 - as) * pi_of(ls);  // (N+1)
      auto q_s = as * xhat + (1 - as) * pi_of(ls).view({1, 1, N + 1});
      auto to_zt =
          a_ts * torch::one_hot(z, N + 1).to(torch::kFloat64) + beta_pi_ts.index({z}).unsqueeze(-1);
      auto unnorm = (q_s * to_zt).clamp_min(0);
      auto total = unnorm.sum(-1, true);
      // A one-hot denoiser (temperature 0) can contradict z_t: x̂(z_t) = 0 at
      // a position that the forward process keeps, so nothing is consistent
      // with both and the row was 0/0. There the posterior under a uniform
      // x̂ decides (under masked noise: z_t stays).
      if (total.le(0).any().item<bool>()) {
        auto uniform = torch::full({N + 1}, 1.0 / N, torch::kFloat64);
        uniform[N] = 0;
        auto fallback =
            ((as * uniform + (1 - as) * pi_of(ls)).view({1, 1, N + 1}) * to_zt).clamp_min(0);
        unnorm = torch::where(total.gt(0), unnorm, fallback);
        total = unnorm.sum(-1, true);
      }
      z = draw(unnorm / total);
    }
    // Whatever is still masked at the end comes from the final denoiser.
    auto final_tokens = draw(denoiser(z).narrow(-1, 0, N));
    return ids.to_model(torch::where(z.eq(N), final_tokens, z));
  }

 private:
  struct Noise {
    torch::Tensor u_keep, u_kind, tokens;  // (B, T) each, on the CPU
  };

  // Corruption draws made one row at a time, each row from its own
  // generator (training and evaluation seed rows differently), then (B, T).
  struct NoiseRows {
    std::vector<torch::Tensor> keep, kind, tokens;
    void draw(int64_t T, torch::Generator& gen) {
      keep.push_back(torch::rand({T}, gen));
      kind.push_back(torch::rand({T}, gen));
      tokens.push_back(torch::randint(0, int64_t{1} << 62, {T}, gen));
    }
    Noise stack() const { return {torch::stack(keep), torch::stack(kind), torch::stack(tokens)}; }
  };

  // N real tokens: the head's logits, less the in-vocabulary mask's.
  gidd::NoiseProcess process(const TransformerImpl& model) const {
    return {model.options().vocab_out - (cfg_.mask_id >= 0 ? 1 : 0), cfg_.mixing_scale,
            cfg_.mixing_shift, cfg_.lambda_min, cfg_.lambda_max};
  }
  gidd::TokenLayout layout(const TransformerImpl& model) const {
    return {process(model).vocab, cfg_.mask_id};
  }

  // x (B, T) in the data's (model) ids; the forward process and the loss in
  // GIDD's. prompt (B) or empty: row b's first P_b tokens stay clean, are not
  // scored, and attend only to each other.
  ObjectiveOutput loss_at(TransformerImpl& model, const torch::Tensor& x_model,
                          const torch::Tensor& log_snr, const Noise& noise, bool train,
                          const std::vector<int64_t>& prompt = {}) {
    const auto p = process(model);
    const auto ids = layout(model);
    const auto dev = x_model.device();
    auto x = ids.to_gidd(x_model);
    auto z = gidd::corrupt(x, log_snr, noise.u_keep.to(dev), noise.u_kind.to(dev),
                           noise.tokens.to(dev), p);
    torch::Tensor prompt_lengths, in_prompt;  // (B) int64, (B, T) bool
    int64_t prompt_tokens = 0;
    if (!prompt.empty()) {
      prompt_lengths = torch::tensor(prompt).to(dev);
      for (int64_t p_b : prompt) prompt_tokens += p_b;
      in_prompt =
          torch::arange(x.size(1), x.options()).view({1, -1}).lt(prompt_lengths.view({-1, 1}));
      z = torch::where(in_prompt, x, z);
    }
    auto hidden = model.hidden(ids.to_model(z), prompt_lengths);  // (B, T, d)
    auto w = gidd::elbo_weight(log_snr, z, x, p);
    if (in_prompt.defined()) w = w.masked_fill(in_prompt, 0.0);  // not scored
    auto elbo_weight = w * (-gidd::log_density(log_snr)).exp();  // w / p(λ)
    auto active = w.gt(0);
    auto d = model
                 .head_loss(hidden, c10::make_intrusive<gidd::KlPlusIsRows>(
                                        x.reshape({-1}), z.reshape({-1}), log_snr.reshape({-1}),
                                        active.reshape({-1}), p, ids))
                 .view_as(w);  // (B, T) KL + IS per token
    ObjectiveOutput out;
    // The metric is per scored token; the loss keeps dividing by every token
    // (prompt tokens add 0), so that the summed reduction stays the exact sum.
    out.metric_count = x.numel() - prompt_tokens;
    out.metric_sum = (elbo_weight * d).detach().sum();
    if (train) {
      auto train_weight = cfg_.weighting == "elbo" ? elbo_weight : w.clamp(0.0, cfg_.weight_clip);
      out.loss = (train_weight * d).sum() / static_cast<double>(x.numel());
    }
    return out;
  }

  ObjectiveConfig cfg_;
};

}  // namespace

std::unique_ptr<Objective> make_diffusion_objective(const ObjectiveConfig& cfg) {
  return std::make_unique<Diffusion>(cfg);
}

}  // namespace scalebed
