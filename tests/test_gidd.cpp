// The GIDD math against diffusion.md's checks: the masked limit against an
// independent MDLM computation (CE/t), closed-form weights against the
// general formula with a numerical π', KL and IS non-negative and zero for a
// perfect prediction, corruption frequencies against q_λ (chi-square), the
// chunked autograd function against a dense autograd reference, and a
// one-token toy whose ELBO integral must equal the data entropy; the
// tokenizer's own mask id (objective.mask_id) against the default layout;
// prompt conditioning (objective.prompt_fraction).
#include <gtest/gtest.h>

#include <cmath>

#include "config/config.h"
#include "model/transformer.h"
#include "objectives/gidd.h"
#include "objectives/objective.h"

namespace scalebed::gidd {
namespace {

NoiseProcess process(int64_t vocab, double b, double a = 1.0) {
  NoiseProcess p;
  p.vocab = vocab;
  p.mixing_shift = b;
  p.mixing_scale = a;
  return p;
}

TEST(Gidd, MaskedLimitIsCrossEntropyOverTOnMaskedTokens) {
  const int64_t N = 11, M = 400;
  auto p = process(N, -1000);
  torch::manual_seed(0);
  auto x = torch::randint(0, N, {M}, torch::kLong);
  auto log_snr = log_snr_from_uniform(torch::rand({M}), p);
  auto z = corrupt(x, log_snr, torch::rand({M}), torch::rand({M}), torch::randint(0, 1000, {M}), p);
  auto logits = torch::randn({M, N});
  auto w = elbo_weight(log_snr, z, x, p);
  auto elbo = w * (-log_density(log_snr)).exp() * kl_plus_is(logits, x, z, log_snr, w.gt(0), p);
  // MDLM: −log x̂(x) / t on masked tokens, t = 1 − α = σ(−λ); kept tokens cost 0.
  auto t = torch::sigmoid(-log_snr);
  auto ce = -torch::log_softmax(logits, 1).gather(1, x.unsqueeze(1)).squeeze(1);
  auto mdlm = torch::where(z.eq(N), ce / t, torch::zeros_like(ce));
  EXPECT_GT(z.eq(N).sum().item<int64_t>(), 50);
  EXPECT_EQ(z.eq(x).logical_or(z.eq(N)).all().item<bool>(), true);  // masked noise only masks
  EXPECT_TRUE(torch::allclose(elbo, mdlm, 1e-4, 1e-5));
}

TEST(Gidd, ClosedFormWeightsEqualTheGeneralFormula) {
  // w = (π(z) − π'(z)) / (π(z) + e^λ·[z = x]) with π' by central differences.
  const int64_t N = 7;
  torch::manual_seed(1);
  for (int trial = 0; trial < 20; ++trial) {
    const double lam = -8 + 16 * torch::rand({1}).item<double>();
    const double a = 0.3 + 2 * torch::rand({1}).item<double>();
    const double b = -3 + 6 * torch::rand({1}).item<double>();
    auto p = process(N, b, a);
    auto pi = [&](double l, int64_t z) {
      const double s = 1.0 / (1.0 + std::exp(-(a * l + b)));
      return z == N ? 1.0 - s : s / N;
    };
    const int64_t x = 2;
    for (int64_t z : {int64_t{2}, int64_t{5}, N}) {
      const double h = 1e-5;
      const double dpi = (pi(lam + h, z) - pi(lam - h, z)) / (2 * h);
      const double general = (pi(lam, z) - dpi) / (pi(lam, z) + std::exp(lam) * (z == x));
      const double closed = elbo_weight(torch::tensor({lam}, torch::kFloat64), torch::tensor({z}),
                                        torch::tensor({x}), p)
                                .item<double>();
      EXPECT_NEAR(closed, general, 1e-5 * std::max(1.0, std::abs(general))) << z;
    }
  }
}

TEST(Gidd, WeightsAreNonNegativeExactlyWhenTheMixingScaleIsAtMostOne) {
  // Why objective.mixing_scale is refused above 1: the weight of a token
  // replaced by another real one, 1 - a(1 - s), turns negative.
  const int64_t N = 7;
  auto lam = torch::linspace(-9, 9, 181);
  auto x = torch::zeros({181}, torch::kLong);
  for (double b : {-4.0, 0.0, 2.0}) {
    for (double a : {0.25, 1.0, 1.5}) {
      auto p = process(N, b, a);
      double lowest = 1e300;
      for (int64_t z : {int64_t{0}, int64_t{3}, p.mask_id()}) {
        auto w = elbo_weight(lam, torch::full({181}, z, torch::kLong), x, p);
        lowest = std::min(lowest, w.min().item<double>());
      }
      if (a <= 1) {
        EXPECT_GE(lowest, 0) << "a " << a << " b " << b;
      } else {
        EXPECT_LT(lowest, 0) << "a " << a << " b " << b;
      }
    }
  }
}

TEST(Gidd, KlAndIsAreNonNegativeAndVanishForAPerfectPrediction) {
  const int64_t N = 9, M = 300;
  torch::manual_seed(2);
  for (double b : {-1000.0, -2.0, 0.0, 2.0, 1000.0}) {
    auto p = process(N, b);
    auto x = torch::randint(0, N, {M}, torch::kLong);
    auto log_snr = log_snr_from_uniform(torch::rand({M}), p);
    auto z =
        corrupt(x, log_snr, torch::rand({M}), torch::rand({M}), torch::randint(0, 1000, {M}), p);
    auto all = torch::ones({M}, torch::kBool);
    auto d = kl_plus_is(torch::randn({M, N}) * 3, x, z, log_snr, all, p);
    EXPECT_GE(d.min().item<double>(), -1e-6) << b;
    auto perfect = torch::one_hot(x, N).to(torch::kFloat32) * 60.0;  // x̂ = e_x
    auto d0 = kl_plus_is(perfect, x, z, log_snr, all, p);
    EXPECT_LT(d0.abs().max().item<double>(), 1e-5) << b;
  }
}

TEST(Gidd, CorruptionFrequenciesMatchTheMarginal) {
  // Chi-square over {z = x, z = mask, z = another real token} at fixed λ.
  const int64_t N = 20, M = 200000;
  for (double b : {-2.0, 0.0, 2.0}) {
    for (double lam : {-2.0, 0.5, 3.0}) {
      auto p = process(N, b);
      torch::manual_seed(3);
      auto x = torch::randint(0, N, {M}, torch::kLong);
      auto log_snr = torch::full({M}, lam);
      auto z = corrupt(x, log_snr, torch::rand({M}), torch::rand({M}),
                       torch::randint(0, int64_t{1} << 40, {M}), p);
      const double alpha = 1 / (1 + std::exp(-lam)), beta = 1 - alpha;
      const double s = 1 / (1 + std::exp(-(lam + b)));
      const double expected[3] = {alpha + beta * s / N, beta * (1 - s), beta * s * (N - 1) / N};
      const double observed[3] = {z.eq(x).sum().item<double>(), z.eq(N).sum().item<double>(),
                                  z.ne(x).logical_and(z.ne(N)).sum().item<double>()};
      double chi2 = 0;
      for (int k = 0; k < 3; ++k) {
        const double e = expected[k] * M;
        chi2 += (observed[k] - e) * (observed[k] - e) / e;
      }
      EXPECT_LT(chi2, 13.8) << "b " << b << " λ " << lam;  // p = 0.001 at 2 degrees of freedom
    }
  }
}

TEST(Gidd, ChunkedFunctionMatchesDenseReferenceValuesAndGradients) {
  const int64_t N = 13, M = 97;
  torch::manual_seed(4);
  // -86 ... -103: the uniform share is a float32 subnormal there; the KL's
  // ratio alpha*x/c overflowed and gave inf - inf = NaN.
  for (double b : {-1000.0, -103.0, -95.0, -90.0, -86.0, -2.0, 0.0, 1000.0}) {
    auto p = process(N, b, 1.3);
    auto x = torch::randint(0, N, {M}, torch::kLong);
    auto log_snr = log_snr_from_uniform(torch::rand({M}), p);
    auto z =
        corrupt(x, log_snr, torch::rand({M}), torch::rand({M}), torch::randint(0, 1000, {M}), p);
    auto base = torch::randn({M, N}, torch::kFloat64) * 2;
    auto upstream = torch::rand({M}, torch::kFloat64);
    // Tokens the ELBO gives zero weight (masked noise, z = x) are inactive.
    auto active = elbo_weight(log_snr, z, x, p).gt(0);

    auto l1 = base.clone().requires_grad_();
    auto fast = kl_plus_is(l1, x, z, log_snr, active, p, /*chunk_elements=*/5 * N);  // 20 chunks
    (fast.to(torch::kFloat64) * upstream).sum().backward();

    auto l2 = base.clone().requires_grad_();
    auto ref = kl_plus_is_reference(l2, x, z, log_snr.to(torch::kFloat64), p);
    ref = torch::where(active, ref, torch::zeros_like(ref));
    (ref * upstream).sum().backward();

    EXPECT_TRUE(torch::allclose(fast.to(torch::kFloat64), ref.detach(), 1e-4, 1e-5)) << b;
    EXPECT_TRUE(torch::allclose(l1.grad(), l2.grad(), 1e-4, 1e-5))
        << b << " max diff " << (l1.grad() - l2.grad()).abs().max().item<double>();
  }
}

// Negative ELBO of a one-token source with data distribution `data_p`,
// integrated over λ ∈ `lambdas` by the trapezoid rule, for denoisers x̂(λ, z)
// given as logits (G, N+1, N): Σ_x p(x) Σ_z q(z|x)·w(z,x)·(KL + IS).
torch::Tensor toy_negative_elbo(const torch::Tensor& data_p, const torch::Tensor& lambdas,
                                const torch::Tensor& xhat_logits, const NoiseProcess& p) {
  const int64_t N = p.vocab, G = lambdas.size(0);
  auto lam = lambdas.view({G, 1, 1}).expand({G, N + 1, N}).reshape({-1});
  auto z = torch::arange(N + 1).view({1, N + 1, 1}).expand({G, N + 1, N}).reshape({-1});
  auto x = torch::arange(N).view({1, 1, N}).expand({G, N + 1, N}).reshape({-1});
  auto alpha = torch::sigmoid(lam), beta = torch::sigmoid(-lam);
  auto s = uniform_share(lam, p);
  auto q_zx = alpha * z.eq(x).to(torch::kFloat64) +
              beta * torch::where(z.eq(N), 1.0 - s, s / static_cast<double>(N));
  auto mass = q_zx * elbo_weight(lam, z, x, p).to(torch::kFloat64) *
              data_p.view({1, 1, N}).expand({G, N + 1, N}).reshape({-1});
  // Only (λ, z, x) with positive mass enter (elsewhere KL + IS may be infinite).
  auto idx = mass.gt(0).nonzero().squeeze(1);
  auto logits = xhat_logits.unsqueeze(2).expand({G, N + 1, N, N}).reshape({-1, N});
  auto d = kl_plus_is_reference(logits.index_select(0, idx), x.index_select(0, idx),
                                z.index_select(0, idx), lam.index_select(0, idx), p);
  auto per_entry = torch::zeros({G * (N + 1) * N}, torch::kFloat64)
                       .index_add(0, idx, mass.index_select(0, idx) * d);
  return torch::trapezoid(per_entry.view({G, -1}).sum(1), lambdas);
}

TEST(Gidd, OneTokenToyElboEqualsTheEntropy) {
  const int64_t N = 3, G = 481;
  auto data_p = torch::tensor({0.6, 0.3, 0.1}, torch::kFloat64);
  const double H = -(data_p * data_p.log()).sum().item<double>();
  auto lambdas = torch::linspace(-12, 12, G, torch::kFloat64);

  // The exact posterior p(x | z) as logits: z = x reveals x, the mask reveals
  // nothing, a real z under uniform noise is Bayes' rule on q(z | x).
  auto posterior = [&](const NoiseProcess& p) {
    auto logits = torch::zeros({G, N + 1, N}, torch::kFloat64);
    auto alpha = torch::sigmoid(lambdas), beta = torch::sigmoid(-lambdas);
    auto s = uniform_share(lambdas, p);
    for (int64_t zv = 0; zv <= N; ++zv) {
      for (int64_t xv = 0; xv < N; ++xv) {
        auto q = zv == N ? beta * (1 - s) : alpha * double(zv == xv) + beta * s / double(N);
        logits.select(1, zv).select(1, xv).copy_((q * data_p[xv]).clamp_min(1e-300).log());
      }
    }
    return logits;
  };

  // Masked: the posterior attains H (up to the λ truncation).
  EXPECT_NEAR(toy_negative_elbo(data_p, lambdas, posterior(process(N, -1000)), process(N, -1000))
                  .item<double>(),
              H, 1e-3);
  // Uniform and hybrid: minimising the integrand over x̂ at each (λ, z) gives
  // H; the posterior is not the minimiser and gives a bound well above H.
  for (double b : {-2.0, 0.0, 2.0, 1000.0}) {
    auto p = process(N, b);
    auto logits = posterior(p).requires_grad_();
    torch::optim::LBFGS opt(
        {logits}, torch::optim::LBFGSOptions(1.0).max_iter(300).line_search_fn("strong_wolfe"));
    opt.step([&] {
      opt.zero_grad();
      auto loss =
          toy_negative_elbo(data_p, lambdas, logits, p) * 100.0;  // scaled for the optimizer
      loss.backward();
      return loss;
    });
    const double optimum = toy_negative_elbo(data_p, lambdas, logits.detach(), p).item<double>();
    const double at_posterior = toy_negative_elbo(data_p, lambdas, posterior(p), p).item<double>();
    EXPECT_NEAR(optimum, H, 1e-3) << "b " << b;
    EXPECT_GT(at_posterior, optimum + 1e-2) << "b " << b;
  }
}

TEST(Sampling, EverySamplerAndTemperatureGivesTokensOfTheVocabulary) {
  // `trainer sample --sampler ancestral --temperature 0` on a masked model
  // exited with "probability tensor contains nan": a one-hot denoiser that
  // contradicts an unmasked token left a row of zeros (0/0).
  const int64_t N = 10;
  TransformerOptions o;
  o.layers = 1, o.d_model = 16, o.heads = 2, o.context = 12;
  o.vocab_in = N + 1, o.vocab_out = N, o.causal = false;
  torch::manual_seed(3);
  Transformer model(o);
  {
    torch::NoGradGuard g;  // an untrained denoiser with strong opinions
    for (auto& w : model->parameters()) w.normal_(0.0, 0.5);
  }
  for (const char* noise : {"masked", "balanced", "uniform"}) {
    const double shift = std::string(noise) == "masked" ? -1000 : noise[0] == 'b' ? 0 : 1000;
    ObjectiveConfig cfg{"diffusion", noise, shift, 1.0, "paper", 1000, -9, 9, 0, 4};
    auto objective = make_objective(cfg);
    for (const char* sampler : {"ancestral", "adaptive"}) {
      for (double temperature : {0.0, 0.7, 1.0}) {
        SampleOptions so;
        so.num = 3, so.steps = 8, so.sampler = sampler, so.temperature = temperature;
        torch::Tensor out;
        ASSERT_NO_THROW(out = objective->sample(*model, so, torch::Tensor()))
            << noise << " " << sampler << " T " << temperature;
        EXPECT_EQ(out.sizes(), torch::IntArrayRef({3, 12}));
        EXPECT_GE(out.min().item<int64_t>(), 0);
        EXPECT_LT(out.max().item<int64_t>(), N) << "a mask token left in the sample";
      }
    }
  }
}

// objective.mask_id: the same diffusion model written in the tokenizer's ids
// (mask K inside a vocabulary of V = N + 1) and in GIDD's own (mask N) is the
// same model: equal losses for the same data and noise, and gradients that
// are each other's, row for row, with none for the head's mask logit.
TEST(Gidd, TheTokenizersOwnMaskIdIsTheDefaultLayoutRelabelled) {
  const int64_t N = 9;
  for (int64_t K : {int64_t{3}, N}) {  // inside the vocabulary, and its last id
    TokenLayout layout{N, K};
    // The ids: every real token and the mask map there and back.
    auto gidd_ids = torch::arange(N + 1);
    auto model_ids = layout.to_model(gidd_ids);
    EXPECT_EQ(model_ids[N].item<int64_t>(), K);
    EXPECT_TRUE(std::get<0>(model_ids.sort()).equal(torch::arange(N + 1)));  // a permutation
    EXPECT_TRUE(layout.to_gidd(model_ids.narrow(0, 0, N)).equal(torch::arange(N)));

    TransformerOptions o;
    o.layers = 1, o.d_model = 16, o.heads = 2, o.context = 12, o.causal = false;
    o.vocab_in = N + 1, o.vocab_out = N;
    torch::manual_seed(5);
    Transformer gidd_model(o);
    o.vocab_out = N + 1;
    Transformer tokenizer_model(o);
    {
      torch::NoGradGuard g;
      for (auto& w : gidd_model->parameters()) w.normal_(0.0, 0.3);
      auto params = gidd_model->named_parameters();
      for (auto& item : tokenizer_model->named_parameters()) {
        auto source = params[item.key()];
        if (item.key() == "embed.weight") {  // row t of the tokenizer's = row gidd(t)
          item.value().index_copy_(0, model_ids, source);
        } else if (item.key() == "head.weight") {  // and row K, never a prediction: noise
          item.value().normal_(0.0, 5.0);
          item.value().index_copy_(0, model_ids.narrow(0, 0, N), source);
        } else {
          item.value().copy_(source);
        }
      }
    }
    for (const char* noise : {"masked", "balanced"}) {
      const double shift = std::string(noise) == "masked" ? -1000 : 0;
      ObjectiveConfig cfg{"diffusion", noise, shift, 1.0, "paper", 1000, -9, 9, 0.5, 4};
      auto gidd_objective = make_objective(cfg);
      cfg.mask_id = K;
      auto tokenizer_objective = make_objective(cfg);
      EXPECT_EQ(tokenizer_objective->input_vocab(N + 1), N + 1);
      EXPECT_EQ(tokenizer_objective->output_vocab(N + 1), N + 1);
      // Data in the tokenizer's ids never holds K.
      auto gidd_windows = torch::randint(0, N, {3, o.context + 1});
      auto windows = layout.to_model(gidd_windows);
      ASSERT_FALSE(windows.eq(K).any().item<bool>());
      auto a = gidd_objective->train_loss(*gidd_model, gidd_windows, 17, 0);
      auto b = tokenizer_objective->train_loss(*tokenizer_model, windows, 17, 0);
      EXPECT_NEAR(a.loss.item<double>(), b.loss.item<double>(), 1e-5) << noise << " K " << K;
      gidd_model->zero_grad(), tokenizer_model->zero_grad();
      a.loss.backward(), b.loss.backward();
      auto embed_a = gidd_model->embed->weight.grad(),
           embed_b = tokenizer_model->embed->weight.grad();
      EXPECT_LT((embed_b.index_select(0, model_ids) - embed_a).abs().max().item<double>(), 1e-5);
      auto head_a = gidd_model->head->weight.grad(), head_b = tokenizer_model->head->weight.grad();
      EXPECT_LT(
          (head_b.index_select(0, model_ids.narrow(0, 0, N)) - head_a).abs().max().item<double>(),
          1e-5);
      EXPECT_EQ(head_b[K].abs().max().item<double>(), 0.0) << "the mask's logit got a gradient";
      auto eval_a = gidd_objective->eval_loss(*gidd_model, gidd_windows, 0);
      auto eval_b = tokenizer_objective->eval_loss(*tokenizer_model, windows, 0);
      EXPECT_NEAR(eval_a.loss.item<double>(), eval_b.loss.item<double>(), 1e-5);
      // Samples are the tokenizer's ids and never the mask.
      SampleOptions so;
      so.num = 2, so.steps = 6, so.temperature = 0.7;
      auto out = tokenizer_objective->sample(*tokenizer_model, so, torch::Tensor());
      EXPECT_FALSE(out.eq(K).any().item<bool>()) << "a mask token left in the sample";
      EXPECT_LT(out.max().item<int64_t>(), N + 1);
    }
  }
}

// objective.prompt_fraction: the prefix length as the released code draws
// it; a run whose rows draw no prompt trains exactly as one without the
// option (the prompt draws come last, an empty prompt masks nothing); with
// prompts every row leaves at least its first token unscored; and activation
// checkpointing recomputes the blocks with the same prompt masks.
TEST(Gidd, PromptConditioning) {
  EXPECT_EQ(prompt_length(0.0, 64), 1);
  EXPECT_EQ(prompt_length(1.0, 64), 63);   // never the whole row
  EXPECT_EQ(prompt_length(0.3, 1), 0);     // a row of one token keeps it to score
  EXPECT_EQ(prompt_length(0.5, 64), 32);   // f = 1/2: positions 0..31
  EXPECT_EQ(prompt_length(0.25, 64), 22);  // f = arccos(1/2)/π = 1/3: floor(63/3) + 1

  for (AttentionKernel kernel : {AttentionKernel::kSdpa, AttentionKernel::kBlockwise}) {
    TransformerOptions o;
    o.layers = 2, o.d_model = 16, o.heads = 2, o.context = 16, o.causal = false;
    o.vocab_in = 11, o.vocab_out = 10, o.kernel = kernel, o.attention_block = 4;
    auto windows = torch::randint(0, 10, {6, o.context + 1});
    auto loss_and_grads = [&](double prompt_fraction, bool checkpoint) {
      o.checkpoint_blocks = checkpoint;
      torch::manual_seed(9);
      Transformer model(o);
      {
        torch::NoGradGuard g;
        for (auto& w : model->parameters()) w.normal_(0.0, 0.3);
      }
      ObjectiveConfig cfg{"diffusion", "balanced", 0, 1.0, "paper", 1000, -9, 9, 0, 4};
      cfg.prompt_fraction = prompt_fraction;
      auto out = make_objective(cfg)->train_loss(*model, windows, 23, 0);
      out.loss.backward();
      std::vector<torch::Tensor> r{out.loss.detach(),
                                   torch::tensor(static_cast<double>(out.metric_count))};
      for (auto& p : model->parameters()) r.push_back(p.grad().clone());
      return r;
    };
    auto max_difference = [](const std::vector<torch::Tensor>& a,
                             const std::vector<torch::Tensor>& b) {
      double worst = 0;
      for (size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
      return worst;
    };
    const auto none = loss_and_grads(0, false);
    EXPECT_LT(max_difference(loss_and_grads(1e-12, false), none), 1e-6);
    const auto prompted = loss_and_grads(1, false);
    EXPECT_LE(prompted[1].item<double>(), 6 * o.context - 6);  // each row's first token at least
    EXPECT_GT(max_difference(prompted, none), 1e-3);
    EXPECT_LT(max_difference(loss_and_grads(1, true), prompted), 1e-6)
        << "checkpointed blocks recomputed without the prompt masks";
  }
}

}  // namespace
}  // namespace scalebed::gidd
