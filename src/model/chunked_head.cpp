// Chunked LM head + per-row loss as one autograd function.
#include "model/chunked_head.h"

#include <algorithm>

#include "util/error.h"

namespace scalebed {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor chunk_logits(const torch::Tensor& hidden_rows, const torch::Tensor& weight,
                           double head_scale, bool bf16) {
  const auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat32;
  return torch::matmul(hidden_rows.to(dtype), weight.to(dtype).t())
      .to(torch::kFloat32)
      .mul_(head_scale);  // (n, V)
}

struct ChunkedHeadLoss : public torch::autograd::Function<ChunkedHeadLoss> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& weight, double head_scale, bool bf16,
                               c10::intrusive_ptr<RowLoss> loss, int64_t chunk_rows) {
    const int64_t M = hidden.size(0);
    auto out = torch::empty({M}, hidden.options().dtype(torch::kFloat32));
    for (int64_t begin = 0; begin < M; begin += chunk_rows) {
      const int64_t n = std::min(chunk_rows, M - begin);
      auto logits = chunk_logits(hidden.narrow(0, begin, n), weight, head_scale, bf16);
      out.narrow(0, begin, n).copy_(loss->value(logits, begin));
    }
    ctx->save_for_backward({hidden, weight});
    ctx->saved_data["head_scale"] = head_scale;
    ctx->saved_data["bf16"] = bf16;
    ctx->saved_data["loss"] = c10::IValue::make_capsule(loss);
    ctx->saved_data["chunk_rows"] = chunk_rows;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto &hidden = saved[0], &weight = saved[1];
    const double head_scale = ctx->saved_data["head_scale"].toDouble();
    const bool bf16 = ctx->saved_data["bf16"].toBool();
    const auto loss =
        c10::static_intrusive_pointer_cast<RowLoss>(ctx->saved_data["loss"].toCapsule());
    const int64_t chunk_rows = ctx->saved_data["chunk_rows"].toInt(), M = hidden.size(0);
    const auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat32;
    auto grad_out = grad_outputs[0].to(torch::kFloat32);
    auto d_hidden = torch::empty(hidden.sizes(), hidden.options().dtype(torch::kFloat32));
    auto d_weight = torch::zeros(weight.sizes(), weight.options().dtype(torch::kFloat32));
    const auto weight_low = weight.to(dtype);
    for (int64_t begin = 0; begin < M; begin += chunk_rows) {
      const int64_t n = std::min(chunk_rows, M - begin);
      auto rows = hidden.narrow(0, begin, n);
      auto logits = chunk_logits(rows, weight, head_scale, bf16);
      // d loss / d (h·Wᵀ) = head_scale · d loss / d logits
      auto d_logits = loss->grad(logits, begin, grad_out.narrow(0, begin, n))
                          .mul_(head_scale)
                          .to(dtype);  // (n, V)
      d_hidden.narrow(0, begin, n).copy_(torch::matmul(d_logits, weight_low));
      if (bf16) {
        d_weight.add_(torch::matmul(d_logits.t(), rows.to(dtype)));  // a bf16 (V, d) temporary
      } else {
        d_weight.addmm_(d_logits.t(), rows);  // accumulated in place: no (V, d) temporary
      }
    }
    return {d_hidden.to(hidden.scalar_type()),
            d_weight.to(weight.scalar_type()),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor CrossEntropyRows::value(const torch::Tensor& logits, int64_t begin) const {
  auto target = targets_.narrow(0, begin, logits.size(0)).unsqueeze(1);
  return (torch::logsumexp(logits, 1, true) - logits.gather(1, target)).squeeze(1);
}

torch::Tensor CrossEntropyRows::grad(const torch::Tensor& logits, int64_t begin,
                                     const torch::Tensor& grad_out) const {
  auto target = targets_.narrow(0, begin, logits.size(0)).unsqueeze(1);
  auto g = torch::softmax(logits, 1);  // softmax − one-hot(target)
  g.scatter_add_(1, target, torch::full({logits.size(0), 1}, -1.0f, g.options()));
  return g.mul_(grad_out.unsqueeze(1));
}

torch::Tensor chunked_head_loss(const torch::Tensor& hidden, const torch::Tensor& weight,
                                double head_scale, bool bf16, c10::intrusive_ptr<RowLoss> loss,
                                int64_t chunk_rows) {
  SB_CHECK(hidden.dim() == 2 && weight.dim() == 2 && hidden.size(1) == weight.size(1),
           "chunked head wants hidden (M, d) and weight (V, d)");
  SB_CHECK(chunk_rows >= 1, "chunk_rows must be >= 1");
  return ChunkedHeadLoss::apply(hidden, weight, head_scale, bf16, std::move(loss), chunk_rows);
}

}  // namespace scalebed
