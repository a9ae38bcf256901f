// Blockwise attention with soft-cap and sink: forward by online softmax over
// key blocks, backward by recomputing each block from the saved log-sum-exp.
#include "model/blockwise_attention.h"

#include <limits>

#include "util/error.h"

namespace scalebed {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Softmax statistics and accumulators: fp32, or fp64 for fp64 inputs (which
// lets a finite-difference gradient check run on the function itself).
torch::ScalarType stat_type(const torch::Tensor& q) {
  return q.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

// The scores of one key block as the softmax sees them, in fp32, and (when
// capped) tanh(s/c), which the backward needs for the cap's derivative.
struct BlockScores {
  torch::Tensor capped;  // (B, H, Tq, n), masked entries −inf
  torch::Tensor tanh;    // (B, H, Tq, n), undefined without a cap
};

BlockScores block_scores(const torch::Tensor& q_rows, const torch::Tensor& k_block,
                         int64_t first_query, int64_t first_key, const BlockwiseAttentionOptions& o,
                         const torch::Tensor& prompt_lengths) {
  BlockScores s;
  s.capped = torch::matmul(q_rows, k_block.transpose(-2, -1)).to(stat_type(q_rows)).mul_(o.scale);
  if (o.soft_cap > 0) {
    s.tanh = s.capped.div_(o.soft_cap).tanh_();
    s.capped = s.tanh * o.soft_cap;
  }
  if (o.causal) {
    // Query t sees key j when j <= t; only the block's first rows are cut.
    auto opts = torch::TensorOptions().dtype(torch::kInt64).device(q_rows.device());
    auto query_pos = torch::arange(first_query, first_query + q_rows.size(2), opts).unsqueeze(1);
    auto key_pos = torch::arange(first_key, first_key + k_block.size(2), opts).unsqueeze(0);
    s.capped.masked_fill_(key_pos > query_pos, kNegInf);
  }
  if (prompt_lengths.numel() > 0) {
    s.capped.masked_fill_(
        prompt_blocked(prompt_lengths, first_query, q_rows.size(2), first_key, k_block.size(2)),
        kNegInf);
  }
  return s;
}

// The sink slot's score per query, (B, H, T, 1) in fp32, and its tanh.
BlockScores sink_scores(const torch::Tensor& q, const torch::Tensor& sink_key,
                        const BlockwiseAttentionOptions& o) {
  const int64_t H = q.size(1), Dh = q.size(3);
  BlockScores s;
  s.capped = torch::matmul(q, sink_key.to(q.scalar_type()).view({1, H, Dh, 1}))
                 .to(stat_type(q))
                 .mul_(o.scale);
  if (o.soft_cap > 0) {
    s.tanh = s.capped.div_(o.soft_cap).tanh_();
    s.capped = s.tanh * o.soft_cap;
  }
  return s;
}

struct BlockwiseAttentionFunction : public torch::autograd::Function<BlockwiseAttentionFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& sink_key,
                               const torch::Tensor& sink_value, const torch::Tensor& prompt,
                               double scale, double soft_cap, bool causal, int64_t block) {
    const BlockwiseAttentionOptions o{scale, soft_cap, causal, block};
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), Dh = q.size(3);
    const auto stat = stat_type(q);
    const auto stat_options = q.options().dtype(stat);
    // Running row maximum, softmax denominator and numerator·v, all fp32.
    torch::Tensor row_max, row_sum, acc;  // (B, H, T, 1), (B, H, T, 1), (B, H, T, Dh)
    if (sink_key.numel() > 0) {
      row_max = sink_scores(q, sink_key, o).capped;
      row_sum = torch::ones({B, H, T, 1}, stat_options);
      acc = sink_value.to(stat).view({1, H, 1, Dh}).expand({B, H, T, Dh}).clone();
    } else {
      row_max = torch::full({B, H, T, 1}, kNegInf, stat_options);
      row_sum = torch::zeros({B, H, T, 1}, stat_options);
      acc = torch::zeros({B, H, T, Dh}, stat_options);
    }
    for (int64_t j0 = 0; j0 < T; j0 += block) {
      const int64_t n = std::min(block, T - j0);
      // Causal: queries before the block's first key see none of it. Every
      // remaining row sees at least key j0, so its maximum becomes finite.
      const int64_t q0 = causal ? j0 : 0, rows = T - q0;
      auto q_rows = q.narrow(2, q0, rows);
      // With prompts, a prompt row sees key 0 in the first block: finite too.
      auto scores = block_scores(q_rows, k.narrow(2, j0, n), q0, j0, o, prompt).capped;
      auto m = row_max.narrow(2, q0, rows), l = row_sum.narrow(2, q0, rows);
      auto a = acc.narrow(2, q0, rows);
      auto new_max = torch::maximum(m, std::get<0>(scores.max(-1, /*keepdim=*/true)));
      auto correction = (m - new_max).exp_();  // exp(−inf) = 0 before the first block
      auto probs = scores.sub_(new_max).exp_();
      l.mul_(correction).add_(probs.sum(-1, /*keepdim=*/true));
      a.mul_(correction)
          .add_(torch::matmul(probs.to(v.scalar_type()), v.narrow(2, j0, n)).to(stat));
      m.copy_(new_max);
    }
    // The backward's row term D = Σ dO·O takes O before rounding to a bf16
    // output, as its dP is fp32: rounding either alone would leave a bias of
    // 2^-8·|dO|·|v| in dS = P ⊙ (dP − D), which the explicit kernel does not have.
    auto out_stat = acc.div_(row_sum);
    auto out = out_stat.to(q.scalar_type());
    auto log_sum_exp = row_max + row_sum.log();  // (B, H, T, 1)
    ctx->save_for_backward({q, k, v, sink_key, sink_value, out_stat, log_sum_exp, prompt});
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["soft_cap"] = soft_cap;
    ctx->saved_data["causal"] = causal;
    ctx->saved_data["block"] = block;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &sink_key = saved[3],
               &sink_value = saved[4], &out_stat = saved[5], &log_sum_exp = saved[6],
               &prompt = saved[7];
    const BlockwiseAttentionOptions o{
        ctx->saved_data["scale"].toDouble(), ctx->saved_data["soft_cap"].toDouble(),
        ctx->saved_data["causal"].toBool(), ctx->saved_data["block"].toInt()};
    const int64_t H = q.size(1), T = q.size(2), Dh = q.size(3);
    const auto dtype = q.scalar_type(), stat = stat_type(q);
    auto grad_out = grad_outputs[0].to(dtype);  // (B, H, T, Dh)
    auto grad_out_stat = grad_out.to(stat);
    // D_t = Σ_d dO·O: the softmax backward's row term.
    auto row_dot = (grad_out_stat * out_stat).sum(-1, true);  // (B, H, T, 1)
    auto dq = torch::zeros(q.sizes(), q.options().dtype(stat));
    auto dk = torch::zeros(k.sizes(), k.options().dtype(stat));
    auto dv = torch::zeros(v.sizes(), v.options().dtype(stat));
    // dS = P ⊙ (dP − D), through the cap's derivative 1 − tanh², times the scale.
    auto score_grad = [&](const BlockScores& s, const torch::Tensor& lse, const torch::Tensor& dp,
                          const torch::Tensor& d) {
      auto probs = (s.capped - lse).exp_();  // masked entries: exp(−inf) = 0
      auto ds = probs * (dp - d);
      if (s.tanh.defined()) ds.mul_(1.0 - s.tanh.square());
      return std::make_pair(probs, ds.mul_(o.scale));
    };
    for (int64_t j0 = 0; j0 < T; j0 += o.block) {
      const int64_t n = std::min(o.block, T - j0);
      const int64_t q0 = o.causal ? j0 : 0, rows = T - q0;
      auto q_rows = q.narrow(2, q0, rows), k_block = k.narrow(2, j0, n);
      auto v_block = v.narrow(2, j0, n), go_rows = grad_out.narrow(2, q0, rows);
      auto s = block_scores(q_rows, k_block, q0, j0, o, prompt);
      // dP in fp32 (the softmax's backward); the other matmuls in the inputs' dtype.
      auto dp =
          torch::matmul(grad_out_stat.narrow(2, q0, rows), v_block.to(stat).transpose(-2, -1));
      auto [probs, ds] =
          score_grad(s, log_sum_exp.narrow(2, q0, rows), dp, row_dot.narrow(2, q0, rows));
      dv.narrow(2, j0, n).add_(torch::matmul(probs.to(dtype).transpose(-2, -1), go_rows).to(stat));
      auto ds_low = ds.to(dtype);
      dq.narrow(2, q0, rows).add_(torch::matmul(ds_low, k_block).to(stat));
      dk.narrow(2, j0, n).add_(torch::matmul(ds_low.transpose(-2, -1), q_rows).to(stat));
    }
    torch::Tensor d_sink_key, d_sink_value;  // undefined: no sink
    if (sink_key.numel() > 0) {
      auto sink_v32 = sink_value.to(stat).view({1, H, 1, Dh});
      const auto& go32 = grad_out_stat;
      auto dp = (go32 * sink_v32).sum(-1, /*keepdim=*/true);  // (B, H, T, 1)
      auto [probs, ds] = score_grad(sink_scores(q, sink_key, o), log_sum_exp, dp, row_dot);
      d_sink_value =
          (probs * go32).sum(std::vector<int64_t>{0, 2}).to(sink_value.scalar_type());  // (H, Dh)
      dq.add_(ds * sink_key.to(stat).view({1, H, 1, Dh}));
      d_sink_key = (ds * q.to(stat)).sum(std::vector<int64_t>{0, 2}).to(sink_key.scalar_type());
    }
    return {dq.to(dtype),    dk.to(k.scalar_type()), dv.to(v.scalar_type()), d_sink_key,
            d_sink_value,    torch::Tensor(),        torch::Tensor(),        torch::Tensor(),
            torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor prompt_blocked(const torch::Tensor& prompt_lengths, int64_t first_query, int64_t rows,
                             int64_t first_key, int64_t keys) {
  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(prompt_lengths.device());
  auto prompt = prompt_lengths.view({-1, 1});  // (B, 1)
  auto query_in_prompt =
      torch::arange(first_query, first_query + rows, opts).lt(prompt);             // (B, rows)
  auto key_outside = torch::arange(first_key, first_key + keys, opts).ge(prompt);  // (B, keys)
  return (query_in_prompt.unsqueeze(2) & key_outside.unsqueeze(1)).unsqueeze(1);
}

torch::Tensor blockwise_attention(const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v, const torch::Tensor& sink_key,
                                  const torch::Tensor& sink_value,
                                  const BlockwiseAttentionOptions& options,
                                  const torch::Tensor& prompt_lengths) {
  SB_CHECK(q.dim() == 4 && k.sizes() == q.sizes() && v.sizes() == q.sizes(),
           "blockwise attention wants q, k, v of one (B, H, T, Dh) shape");
  SB_CHECK(sink_key.defined() == sink_value.defined(), "sink key and value come together");
  SB_CHECK(options.block >= 1, "attention block must be >= 1");
  // Custom functions take no undefined inputs: without a sink, empty tensors
  // stand in for its key and value (and get no gradient).
  const bool sink = sink_key.defined();
  const auto none = torch::empty({0}, q.options());
  const auto no_prompt = torch::empty({0}, q.options().dtype(torch::kInt64));
  return BlockwiseAttentionFunction::apply(
      q, k, v, sink ? sink_key : none, sink ? sink_value : none,
      prompt_lengths.defined() ? prompt_lengths : no_prompt, options.scale, options.soft_cap,
      options.causal, options.block);
}

}  // namespace scalebed
