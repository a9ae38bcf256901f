// GIDD forward process, ELBO weights, and KL + IS per token (as the chunked
// head's row loss, and over given logits for the tests).
#include "objectives/gidd.h"

#include <cmath>

#include "util/error.h"

namespace scalebed::gidd {
namespace {

double sigmoid(double v) {
  return 1.0 / (1.0 + std::exp(-v));
}

// Per-token constants of the ELBO terms, all (M) fp32.
struct TokenTerms {
  torch::Tensor alpha, log_alpha, c, log_c;  // c = β·s/N: q and p of a real token ≠ x
  torch::Tensor q_z, z_real;                 // q(z | x) for real z; z is a real token
};

TokenTerms token_terms(const torch::Tensor& x, const torch::Tensor& z, const torch::Tensor& log_snr,
                       const NoiseProcess& p) {
  TokenTerms t;
  auto lam = log_snr.to(torch::kFloat32);
  t.alpha = torch::sigmoid(lam);
  t.log_alpha = torch::log_sigmoid(lam);
  auto s = uniform_share(lam, p);
  // log c = log β + log s − log N, finite unless s underflows to 0 (masked noise).
  t.log_c = torch::log_sigmoid(-lam) + torch::log_sigmoid(p.mixing_scale * lam + p.mixing_shift) -
            std::log(static_cast<double>(p.vocab));
  t.c = t.log_c.exp();
  t.z_real = z.lt(p.vocab);
  t.q_z = t.c + t.alpha * z.eq(x).to(torch::kFloat32);
  return t;
}

// Rows per chunk: keeps each (rows, N) temporary near `elements`.
int64_t chunk_rows(int64_t vocab, int64_t elements) {
  return std::max<int64_t>(1, elements / vocab);
}

// KL + IS of the rows of one chunk.
torch::Tensor chunk_value(const torch::Tensor& logits, const torch::Tensor& x,
                          const torch::Tensor& z, const TokenTerms& t, const NoiseProcess& p) {
  const int64_t N = p.vocab;
  auto lp = torch::log_softmax(logits.to(torch::kFloat32), -1);  // (C, N) log x̂
  auto x_col = x.unsqueeze(1), z_col = z.clamp_max(N - 1).unsqueeze(1);
  auto lp_x = lp.gather(1, x_col).squeeze(1), lp_z = lp.gather(1, z_col).squeeze(1);
  auto log_y_x = torch::logaddexp(t.log_alpha + lp_x, t.log_c);  // log p(x)
  auto log_y_z = torch::logaddexp(t.log_alpha + lp_z, t.log_c);  // log p(z), z real
  // KL = (α + c)·log((α + c) / p(x)) + Σ_{v ≠ x} c·log(c / p(v)); the mask's
  // terms cancel (q(m) = p(m) = β(1 − s)).
  auto q_x = t.alpha + t.c;
  auto kl = q_x * (q_x.log() - log_y_x);
  // Σ_{v≠x} c·log(c / p(v)) = −c·Σ_{v≠x} log(p(v) / c), each term
  // logaddexp(log α + log x̂_v, log c) − log c in log space: the ratio α·x̂_v/c
  // overflowed to inf when c was a float32 subnormal (mixing_shift −86…−103),
  // and inf − inf gave NaN.
  auto has_c = t.c.gt(0);
  if (has_c.any().item<bool>()) {
    auto log_c = t.log_c.unsqueeze(1);
    auto log_ratio = torch::logaddexp(t.log_alpha.unsqueeze(1) + lp, log_c) - log_c;  // (C, N)
    auto sum_all = log_ratio.sum(1);
    auto at_x = log_ratio.gather(1, x_col).squeeze(1);
    auto others = -t.c * (sum_all - at_x);
    kl = kl + torch::where(has_c, others, torch::zeros_like(others));
  }
  // IS = r − log r − 1 with r = q(z) / p(z); 0 when z is the mask (r = 1).
  auto log_r = t.q_z.log() - log_y_z;
  auto is = torch::where(t.z_real, log_r.exp() - log_r - 1.0, torch::zeros_like(log_r));
  return kl + is;
}

// d(KL + IS)/d logits on one chunk, scaled per row by grad_out (C).
torch::Tensor chunk_grad(const torch::Tensor& logits, const torch::Tensor& x,
                         const torch::Tensor& z, const TokenTerms& t, const torch::Tensor& grad_out,
                         const NoiseProcess& p) {
  const int64_t N = p.vocab;
  auto lp = torch::log_softmax(logits.to(torch::kFloat32), -1);
  auto xh = lp.exp();  // (C, N)
  auto x_col = x.unsqueeze(1), z_col = z.clamp_max(N - 1).unsqueeze(1);
  auto lp_x = lp.gather(1, x_col).squeeze(1), lp_z = lp.gather(1, z_col).squeeze(1);
  auto log_y_x = torch::logaddexp(t.log_alpha + lp_x, t.log_c);
  auto log_y_z = torch::logaddexp(t.log_alpha + lp_z, t.log_c);
  // h_v = α·x̂_v·∂(KL + IS)/∂p(v); then ∂/∂logit_j = h_j − x̂_j·Σ_v h_v.
  // KL, v ≠ x: −c·α·x̂_v / p(v)   (0 when c = 0)
  auto alpha = t.alpha.unsqueeze(1), c = t.c.unsqueeze(1);
  auto h = -c * alpha * xh / (alpha * xh + c);
  h = torch::where(c.gt(0), h, torch::zeros_like(h));
  // KL, v = x: −(α + c)·α·x̂_x / p(x)
  auto h_x = -(t.alpha + t.c) * (t.log_alpha + lp_x - log_y_x).exp();
  h.scatter_(1, x_col, h_x.unsqueeze(1));
  // IS at z (real): ∂IS/∂p(z) = (1 − r)/p(z)  ->  h_z += (α·x̂_z / p(z))·(1 − r)
  auto r = (t.q_z.log() - log_y_z).exp();
  auto h_z = (t.log_alpha + lp_z - log_y_z).exp() * (1.0 - r);
  h_z = torch::where(t.z_real, h_z, torch::zeros_like(h_z));
  h.scatter_add_(1, z_col, h_z.unsqueeze(1));
  auto grad = h - xh * h.sum(1, true);
  return grad * grad_out.unsqueeze(1);
}

// KL + IS of given logits (M, N), a chunk of rows at a time through the same
// per-row value and gradient as the chunked head's KlPlusIsRows.
class KlPlusIs : public torch::autograd::Function<KlPlusIs> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor logits,
                               torch::Tensor x, torch::Tensor z, torch::Tensor log_snr,
                               torch::Tensor active, double a, double b, int64_t vocab,
                               int64_t chunk_elements) {
    ctx->save_for_backward({logits, x, z, log_snr, active});
    ctx->saved_data["a"] = a;
    ctx->saved_data["b"] = b;
    ctx->saved_data["vocab"] = vocab;
    ctx->saved_data["chunk_elements"] = chunk_elements;
    const KlPlusIsRows loss(x, z, log_snr, active, NoiseProcess{vocab, a, b});
    auto out = torch::empty({logits.size(0)}, logits.options().dtype(torch::kFloat32));
    const int64_t rows = chunk_rows(vocab, chunk_elements);
    for (int64_t start = 0; start < logits.size(0); start += rows) {
      const int64_t n = std::min(rows, logits.size(0) - start);
      out.narrow(0, start, n).copy_(loss.value(logits.narrow(0, start, n), start));
    }
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    auto &logits = saved[0], &x = saved[1], &z = saved[2], &log_snr = saved[3], &active = saved[4];
    const int64_t vocab = ctx->saved_data["vocab"].toInt();
    const KlPlusIsRows loss(
        x, z, log_snr, active,
        NoiseProcess{vocab, ctx->saved_data["a"].toDouble(), ctx->saved_data["b"].toDouble()});
    auto grad_out = grad_outputs[0].to(torch::kFloat32);
    auto grad = torch::empty_like(logits);  // the one (M, N) tensor besides the logits
    const int64_t rows = chunk_rows(vocab, ctx->saved_data["chunk_elements"].toInt());
    for (int64_t start = 0; start < logits.size(0); start += rows) {
      const int64_t n = std::min(rows, logits.size(0) - start);
      grad.narrow(0, start, n)
          .copy_(loss.grad(logits.narrow(0, start, n), start, grad_out.narrow(0, start, n)));
    }
    return {grad,
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor uniform_share(const torch::Tensor& log_snr, const NoiseProcess& p) {
  return torch::sigmoid(p.mixing_scale * log_snr + p.mixing_shift);
}

torch::Tensor log_snr_from_uniform(const torch::Tensor& u, const NoiseProcess& p) {
  const double t_min = sigmoid(-p.lambda_max), t_max = sigmoid(-p.lambda_min);
  auto t = t_min + u.to(torch::kFloat64) * (t_max - t_min);
  auto alpha = 1.0 - t;
  return (alpha.log() - t.log()).clamp(p.lambda_min, p.lambda_max).to(torch::kFloat32);
}

torch::Tensor log_density(const torch::Tensor& log_snr) {
  return torch::log_sigmoid(log_snr) + torch::log_sigmoid(-log_snr);
}

torch::Tensor corrupt(const torch::Tensor& x, const torch::Tensor& log_snr,
                      const torch::Tensor& u_keep, const torch::Tensor& u_kind,
                      const torch::Tensor& random_tokens, const NoiseProcess& p) {
  auto alpha = torch::sigmoid(log_snr);
  auto s = uniform_share(log_snr, p);
  auto uniform_token = random_tokens.remainder(p.vocab).to(x.scalar_type());
  auto noise = torch::where(u_kind.lt(s), uniform_token, torch::full_like(x, p.mask_id()));
  return torch::where(u_keep.lt(alpha), x, noise);
}

torch::Tensor elbo_weight(const torch::Tensor& log_snr, const torch::Tensor& z,
                          const torch::Tensor& x, const NoiseProcess& p) {
  auto lam = log_snr.to(torch::kFloat64);
  auto s = uniform_share(lam, p);
  const double a = p.mixing_scale, N = static_cast<double>(p.vocab);
  auto w_mask = 1.0 + a * s;
  auto w_other = 1.0 - a * (1.0 - s);
  auto w_same = (s / N) * (1.0 - a * (1.0 - s)) / (s / N + lam.exp());
  return torch::where(z.eq(p.mask_id()), w_mask, torch::where(z.eq(x), w_same, w_other))
      .to(torch::kFloat32);
}

torch::Tensor kl_plus_is(const torch::Tensor& logits, const torch::Tensor& x,
                         const torch::Tensor& z, const torch::Tensor& log_snr,
                         const torch::Tensor& active, const NoiseProcess& p,
                         int64_t chunk_elements) {
  SB_CHECK(logits.dim() == 2 && logits.size(1) == p.vocab, "logits must be (M, N)");
  return KlPlusIs::apply(logits, x, z, log_snr, active, p.mixing_scale, p.mixing_shift, p.vocab,
                         chunk_elements);
}

int64_t prompt_length(double r, int64_t T) {
  const double f = std::acos(1 - 2 * r) / M_PI;
  // r < 1 never reaches T (f = 1 only at r = 1); the cap keeps a token to score
  // in every row, also at T = 1.
  return std::min<int64_t>(T - 1,
                           static_cast<int64_t>(std::floor(f * static_cast<double>(T - 1))) + 1);
}

torch::Tensor TokenLayout::to_gidd(const torch::Tensor& model_ids) const {
  return moves_ids() ? model_ids - model_ids.gt(mask).to(model_ids.scalar_type()) : model_ids;
}

torch::Tensor TokenLayout::to_model(const torch::Tensor& gidd_ids) const {
  if (!moves_ids()) return gidd_ids;
  auto real = gidd_ids + gidd_ids.ge(mask).to(gidd_ids.scalar_type());
  return torch::where(gidd_ids.eq(real_tokens), torch::full_like(gidd_ids, mask), real);
}

torch::Tensor TokenLayout::real_logits(const torch::Tensor& logits) const {
  if (!in_vocab()) return logits;
  SB_CHECK(logits.size(-1) == real_tokens + 1, "logits must span the tokenizer's vocabulary");
  if (!moves_ids()) return logits.narrow(-1, 0, real_tokens);  // K is the last id: a view
  return torch::cat({logits.narrow(-1, 0, mask), logits.narrow(-1, mask + 1, real_tokens - mask)},
                    -1);
}

torch::Tensor TokenLayout::model_grad(const torch::Tensor& grad) const {
  if (!in_vocab()) return grad;
  auto zero = torch::zeros_like(grad.narrow(-1, 0, 1));
  return torch::cat({grad.narrow(-1, 0, mask), zero, grad.narrow(-1, mask, real_tokens - mask)},
                    -1);
}

torch::Tensor KlPlusIsRows::value(const torch::Tensor& model_logits, int64_t begin) const {
  const auto logits = layout_.real_logits(model_logits);  // (n, N)
  const int64_t n = logits.size(0);
  auto out = torch::zeros({n}, logits.options().dtype(torch::kFloat32));
  // Inactive rows (zero ELBO weight) are left at 0, and not computed.
  auto idx = active_.narrow(0, begin, n).nonzero().squeeze(1);
  if (idx.numel() == 0) return out;
  auto x = x_.narrow(0, begin, n).index_select(0, idx);
  auto z = z_.narrow(0, begin, n).index_select(0, idx);
  TokenTerms t = token_terms(x, z, log_snr_.narrow(0, begin, n).index_select(0, idx), p_);
  return out.index_copy_(0, idx, chunk_value(logits.index_select(0, idx), x, z, t, p_));
}

torch::Tensor KlPlusIsRows::grad(const torch::Tensor& model_logits, int64_t begin,
                                 const torch::Tensor& grad_out) const {
  const auto logits = layout_.real_logits(model_logits);  // (n, N)
  const int64_t n = logits.size(0);
  auto out = torch::zeros_like(logits, logits.options().dtype(torch::kFloat32));
  auto idx = active_.narrow(0, begin, n).nonzero().squeeze(1);
  if (idx.numel() == 0) return layout_.model_grad(out);
  auto x = x_.narrow(0, begin, n).index_select(0, idx);
  auto z = z_.narrow(0, begin, n).index_select(0, idx);
  TokenTerms t = token_terms(x, z, log_snr_.narrow(0, begin, n).index_select(0, idx), p_);
  return layout_.model_grad(out.index_copy_(
      0, idx, chunk_grad(logits.index_select(0, idx), x, z, t, grad_out.index_select(0, idx), p_)));
}

torch::Tensor kl_plus_is_reference(const torch::Tensor& logits, const torch::Tensor& x,
                                   const torch::Tensor& z, const torch::Tensor& log_snr,
                                   const NoiseProcess& p) {
  const int64_t N = p.vocab, M = logits.size(0);
  auto opts = logits.options();
  auto lam = log_snr.to(logits.scalar_type()).unsqueeze(1);  // (M, 1)
  auto alpha = torch::sigmoid(lam), beta = torch::sigmoid(-lam);
  auto s = uniform_share(lam, p);
  // Full vocabulary (N + 1): the mask logit is −∞, so x̂(m) = 0.
  auto full_logits = torch::cat({logits, torch::full({M, 1}, -1e6, opts)}, 1);
  auto xhat = torch::softmax(full_logits, 1);
  auto pi = torch::cat({(s / N).expand({M, N}), 1.0 - s}, 1);  // (M, N + 1)
  auto onehot_x = torch::one_hot(x, N + 1).to(logits.scalar_type());
  auto q = alpha * onehot_x + beta * pi;
  auto pm = alpha * xhat + beta * pi;
  // Entries with q = 0 contribute 0; substituting 1 keeps log() and its
  // gradient finite there (q = p = 0 for the mask under uniform noise).
  auto live = q.gt(0);
  auto one = torch::ones_like(q);
  auto kl = (q * (torch::where(live, q, one).log() - torch::where(live, pm, one).log())).sum(1);
  auto q_z = q.gather(1, z.unsqueeze(1)).squeeze(1), p_z = pm.gather(1, z.unsqueeze(1)).squeeze(1);
  auto r = q_z / p_z;
  return kl + r - r.log() - 1.0;
}

}  // namespace scalebed::gidd
