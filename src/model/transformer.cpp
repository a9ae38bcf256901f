// The transformer backbone: norms, RoPE, attention kernels, MLP, blocks.
#include "model/transformer.h"

#include <ATen/autocast_mode.h>

#include <cmath>

#include "model/blockwise_attention.h"
#include "util/error.h"

namespace scalebed {
namespace {

// bf16 autocast on the tensors' device for one forward (as torch.autocast
// does: nested scopes share the cache of cast weights, cleared when the
// outermost ends). Backward runs outside it; the casts' backward returns fp32
// gradients to the fp32 weights.
class AutocastScope {
 public:
  AutocastScope(bool enabled, c10::DeviceType device) : enabled_(enabled), device_(device) {
    if (!enabled_) return;
    was_enabled_ = at::autocast::is_autocast_enabled(device_);
    was_dtype_ = at::autocast::get_autocast_dtype(device_);
    at::autocast::set_autocast_enabled(device_, true);
    at::autocast::set_autocast_dtype(device_, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(device_, was_enabled_);
    at::autocast::set_autocast_dtype(device_, was_dtype_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_, was_enabled_ = false;
  c10::DeviceType device_;
  at::ScalarType was_dtype_ = at::kFloat;
};

// Activation checkpointing of one block: the forward keeps only the block's
// input; the backward runs the block again (under the same autocast) and
// takes the gradients of its input and parameters from that graph. Blocks
// are deterministic (no dropout), so the recomputation is exact.
struct BlockRecompute : public torch::CustomClassHolder {
  BlockRecompute(Block b, torch::Tensor c, torch::Tensor s, torch::Tensor p, bool bf16_)
      : block(std::move(b)),
        cos(std::move(c)),
        sin(std::move(s)),
        prompt_lengths(std::move(p)),
        bf16(bf16_) {}
  Block block;
  torch::Tensor cos, sin, prompt_lengths;
  bool bf16;
};

struct CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               at::TensorList params, c10::intrusive_ptr<BlockRecompute> r) {
    ctx->save_for_backward({x});
    ctx->saved_data["recompute"] = c10::IValue::make_capsule(r);
    // Inside a custom forward autograd records nothing: no activations kept.
    return r->block->forward(x, r->cos, r->sin, r->prompt_lengths);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto r = c10::static_intrusive_pointer_cast<BlockRecompute>(
        ctx->saved_data["recompute"].toCapsule());
    auto x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    std::vector<torch::Tensor> inputs{x};
    for (const auto& p : r->block->parameters()) inputs.push_back(p);
    torch::Tensor y;
    {
      torch::AutoGradMode grad_mode(true);
      AutocastScope autocast(r->bf16, x.device().type());
      y = r->block->forward(x, r->cos, r->sin, r->prompt_lengths);
    }
    auto grads = torch::autograd::grad({y}, inputs, {grad_outputs[0]}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/true);
    grads.emplace_back();  // the recompute holder
    return grads;
  }
};

}  // namespace

TransformerOptions make_transformer_options(const ModelConfig& m, const Parameterization& p,
                                            bool causal, int64_t vocab_in, int64_t vocab_out) {
  TransformerOptions o;
  o.layers = m.layers;
  o.d_model = m.d_model;
  o.heads = m.heads;
  o.context = m.context;
  o.mlp_ratio = m.mlp_ratio;
  o.vocab_in = vocab_in;
  o.vocab_out = vocab_out;
  o.causal = causal;
  o.qk_norm = m.qk_norm;
  o.attention_sink = m.attention_sink;
  o.soft_cap = m.soft_cap;
  o.rope_theta = m.rope_theta;
  o.norm_eps = m.norm_eps;
  // The fused kernel cannot soft-cap; "auto" picks it whenever it applies and
  // the memory-lean blockwise kernel otherwise.
  if (m.attention == "explicit") {
    o.kernel = AttentionKernel::kExplicit;
  } else if (m.attention == "blockwise" || (m.attention == "auto" && m.soft_cap > 0)) {
    o.kernel = AttentionKernel::kBlockwise;
  } else {
    o.kernel = AttentionKernel::kSdpa;
  }
  o.attention_block = m.attention_block;
  o.residual_scale = p.residual_scale();
  o.head_scale = p.head_scale();
  return o;
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::zeros({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto x32 = x.to(torch::kFloat32);
  auto normed = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return (normed * (1.0 + weight.to(torch::kFloat32))).to(x.scalar_type());
}

torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos,
                         const torch::Tensor& sin) {
  // Rotated in fp32 (cos/sin tables are fp32), returned in x's dtype.
  const int64_t half = x.size(-1) / 2;
  auto x32 = x.to(torch::kFloat32);
  auto x1 = x32.narrow(-1, 0, half);
  auto x2 = x32.narrow(-1, half, half);
  return torch::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1).to(x.scalar_type());
}

torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     const torch::Tensor& sink_key, const torch::Tensor& sink_value,
                     const TransformerOptions& o, AttentionKernel kernel,
                     const torch::Tensor& prompt_lengths) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), Dh = q.size(3);
  const double scale = 1.0 / std::sqrt(static_cast<double>(Dh));
  if (kernel == AttentionKernel::kBlockwise) {
    return blockwise_attention(q, k, v, sink_key, sink_value,
                               {scale, o.soft_cap, o.causal, o.attention_block}, prompt_lengths);
  }
  torch::Tensor keys = k, values = v;  // (B, H, T(+1), Dh)
  const bool sink = sink_key.defined();
  if (sink) {
    // The sink is one more key/value slot in front of the sequence, never rotated.
    keys =
        torch::cat({sink_key.view({1, H, 1, Dh}).expand({B, H, 1, Dh}).to(k.scalar_type()), k}, 2);
    values = torch::cat(
        {sink_value.view({1, H, 1, Dh}).expand({B, H, 1, Dh}).to(v.scalar_type()), v}, 2);
  }
  // allowed (T, T+S), or (B, 1, T, T+S) with prompts: causal over the
  // sequence part, prompts attending to themselves; the sink is always visible.
  torch::Tensor allowed;
  auto opts = torch::TensorOptions().dtype(torch::kBool).device(q.device());
  if (o.causal) allowed = torch::ones({T, T}, opts).tril();
  if (prompt_lengths.defined()) {
    auto open = prompt_blocked(prompt_lengths, 0, T, 0, T).logical_not();  // (B, 1, T, T)
    allowed = allowed.defined() ? open.logical_and(allowed) : open;
  }
  if (allowed.defined() && sink) {
    auto sizes = allowed.sizes().vec();
    sizes.back() = 1;
    allowed = torch::cat({torch::ones(sizes, opts), allowed}, -1);
  }

  if (kernel == AttentionKernel::kSdpa) {
    SB_CHECK(o.soft_cap == 0.0, "the sdpa kernel cannot apply a soft-cap");
    if (o.causal && !sink && !prompt_lengths.defined()) {
      return at::scaled_dot_product_attention(q, keys, values, {}, 0.0, /*is_causal=*/true, scale);
    }
    std::optional<torch::Tensor> mask;
    if (allowed.defined()) mask = allowed;
    return at::scaled_dot_product_attention(q, keys, values, mask, 0.0, false, scale);
  }

  auto scores =
      torch::matmul(q, keys.transpose(-2, -1)).to(torch::kFloat32) * scale;  // (B,H,T,T+S)
  if (o.soft_cap > 0) scores = o.soft_cap * torch::tanh(scores / o.soft_cap);
  if (allowed.defined()) {
    scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  }
  auto probs = torch::softmax(scores, -1).to(values.scalar_type());
  return torch::matmul(probs, values);  // (B, H, T, Dh)
}

AttentionImpl::AttentionImpl(const TransformerOptions& opts) : options(opts) {
  const int64_t d = opts.d_model;
  q = register_module("q", torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(false)));
  k = register_module("k", torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(false)));
  v = register_module("v", torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(false)));
  o = register_module("o", torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(false)));
  if (options.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(d, options.norm_eps));
    k_norm = register_module("k_norm", RMSNorm(d, options.norm_eps));
  }
  if (options.attention_sink) {
    sink_key = register_parameter("sink_key", torch::zeros({options.heads, options.head_dim()}));
    sink_value =
        register_parameter("sink_value", torch::zeros({options.heads, options.head_dim()}));
  }
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin,
                                     const torch::Tensor& prompt_lengths) {
  const int64_t B = x.size(0), T = x.size(1), H = options.heads, Dh = options.head_dim();
  // In bf16 the input is cast once here, not by autocast for each projection.
  const auto xin = options.bf16 ? x.to(torch::kBFloat16) : x;
  auto qx = q->forward(xin), kx = k->forward(xin), vx = v->forward(xin);  // (B, T, d)
  if (options.qk_norm) {
    qx = q_norm->forward(qx);
    kx = k_norm->forward(kx);
  }
  auto split = [&](const torch::Tensor& t) { return t.view({B, T, H, Dh}).transpose(1, 2); };
  auto qh = apply_rope(split(qx), cos, sin);  // (B, H, T, Dh)
  auto kh = apply_rope(split(kx), cos, sin);
  auto vh = split(vx);
  auto out = attend(qh, kh, vh, sink_key, sink_value, options, options.kernel, prompt_lengths);
  return o->forward(out.transpose(1, 2).reshape({B, T, H * Dh}));
}

MlpImpl::MlpImpl(const TransformerOptions& o) {
  const int64_t d = o.d_model, hidden = o.mlp_ratio * o.d_model;
  up = register_module("up", torch::nn::Linear(torch::nn::LinearOptions(d, hidden).bias(true)));
  down = register_module("down", torch::nn::Linear(torch::nn::LinearOptions(hidden, d).bias(true)));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return down->forward(torch::relu(up->forward(x)).square());
}

BlockImpl::BlockImpl(const TransformerOptions& o) : residual_scale(o.residual_scale) {
  attn_norm = register_module("attn_norm", RMSNorm(o.d_model, o.norm_eps));
  attn = register_module("attn", Attention(o));
  mlp_norm = register_module("mlp_norm", RMSNorm(o.d_model, o.norm_eps));
  mlp = register_module("mlp", Mlp(o));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                 const torch::Tensor& sin, const torch::Tensor& prompt_lengths) {
  auto h = x + residual_scale * attn->forward(attn_norm->forward(x), cos, sin, prompt_lengths);
  return h + residual_scale * mlp->forward(mlp_norm->forward(h));
}

TransformerImpl::TransformerImpl(const TransformerOptions& o) : options_(o) {
  SB_CHECK(o.d_model % o.heads == 0 && o.head_dim() % 2 == 0);
  embed = register_module("embed", torch::nn::Embedding(o.vocab_in, o.d_model));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.layers; ++i) blocks->push_back(Block(o));
  final_norm = register_module("final_norm", RMSNorm(o.d_model, o.norm_eps));
  head = register_module(
      "head", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, o.vocab_out).bias(false)));
  // RoPE tables: angle(t, i) = t · θ^(−2i/Dh), i < Dh/2.
  const int64_t half = o.head_dim() / 2;
  auto inv_freq = torch::pow(o.rope_theta, -torch::arange(0, half, torch::kFloat64) * 2.0 /
                                               static_cast<double>(o.head_dim()));
  auto angles = torch::outer(torch::arange(o.context, torch::kFloat64), inv_freq);
  rope_cos_ = register_buffer("rope_cos", angles.cos().to(torch::kFloat32));
  rope_sin_ = register_buffer("rope_sin", angles.sin().to(torch::kFloat32));
}

torch::Tensor TransformerImpl::hidden(const torch::Tensor& tokens,
                                      const torch::Tensor& prompt_lengths) {
  const int64_t T = tokens.size(1);
  SB_CHECK(T <= options_.context, "sequence of ", T, " tokens exceeds the context ",
           options_.context);
  AutocastScope autocast(options_.bf16, tokens.device().type());
  auto cos = rope_cos_.narrow(0, 0, T), sin = rope_sin_.narrow(0, 0, T);
  auto x = embed->forward(tokens);  // (B, T, d), fp32 residual stream
  const bool checkpoint = options_.checkpoint_blocks && torch::GradMode::is_enabled();
  for (const auto& module : *blocks) {
    auto block = module->as<Block>();
    if (checkpoint) {
      const auto params = block->parameters();
      x = CheckpointedBlock::apply(
          x, at::TensorList(params),
          c10::make_intrusive<BlockRecompute>(Block(std::dynamic_pointer_cast<BlockImpl>(module)),
                                              cos, sin, prompt_lengths, options_.bf16));
    } else {
      x = block->forward(x, cos, sin, prompt_lengths);
    }
  }
  return final_norm->forward(x);
}

torch::Tensor TransformerImpl::logits(const torch::Tensor& hidden) {
  AutocastScope autocast(options_.bf16, hidden.device().type());
  auto out = head->forward(hidden).to(torch::kFloat32);
  return options_.head_scale == 1.0 ? out : out * options_.head_scale;
}

torch::Tensor TransformerImpl::head_loss(const torch::Tensor& hidden,
                                         c10::intrusive_ptr<RowLoss> loss) {
  return chunked_head_loss(hidden.reshape({-1, options_.d_model}), head->weight,
                           options_.head_scale, options_.bf16, std::move(loss),
                           head_chunk_rows(options_.vocab_out));
}

void TransformerImpl::initialize(const Parameterization& p) {
  torch::NoGradGuard no_grad;
  for (auto& item : named_parameters()) {
    const GroupRule rule = p.rule(group_of(item.key()));
    if (rule.init_std > 0) {
      item.value().normal_(0.0, rule.init_std);
    } else {
      item.value().zero_();
    }
  }
}

ParamCounts count_params(TransformerImpl& model) {
  ParamCounts c;
  for (const auto& item : model.named_parameters()) {
    const int64_t n = item.value().numel();
    const ParamGroup g = group_of(item.key());
    if (g == ParamGroup::kEmbedding || g == ParamGroup::kHead) {
      c.embedding += n;
    } else {
      c.non_embedding += n;
    }
  }
  c.total = c.embedding + c.non_embedding;
  c.per_layer = count_params(model.options()).per_layer;
  return c;
}

}  // namespace scalebed
