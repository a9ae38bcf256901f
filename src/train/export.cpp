// Safetensors writing and `trainer export`.
#include "train/export.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "train/checkpoint.h"
#include "train/run_dir.h"
#include "train/train.h"
#include "util/error.h"
#include "util/fs.h"

namespace scalebed {
namespace fs = std::filesystem;

namespace {

const char* safetensors_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return "F32";
    case torch::kBFloat16:
      return "BF16";
    case torch::kFloat16:
      return "F16";
    case torch::kInt64:
      return "I64";
    default:
      throw Error(std::string("safetensors export: unsupported dtype ") + c10::toString(t));
  }
}

void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  for (size_t done = 0; done < n;) {
    const ssize_t w = ::write(fd, p + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail_at(path, "cannot write: ", std::strerror(errno));
    done += static_cast<size_t>(w);
  }
}

}  // namespace

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors is little-endian");
  nlohmann::ordered_json header;
  if (!metadata.empty()) {
    nlohmann::ordered_json meta;
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::vector<torch::Tensor> data;
  int64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    const int64_t bytes = t.numel() * t.element_size();
    header[name] = {{"dtype", safetensors_dtype(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(t);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the buffers start 8-byte aligned
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_at(tmp, "cannot create: ", std::strerror(errno));
  try {
    const uint64_t n = text.size();
    write_all(fd, &n, sizeof n, tmp);
    write_all(fd, text.data(), text.size(), tmp);
    for (const auto& t : data) write_all(fd, t.data_ptr(), t.numel() * t.element_size(), tmp);
    if (::fsync(fd) != 0) fail_at(tmp, "cannot sync: ", std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) fail_at(tmp, "cannot close: ", std::strerror(errno));
  fs::rename(tmp, path);
  sync_directory(fs::path(path).parent_path().string());
}

std::string export_run(const std::string& run_dir, std::optional<int64_t> step,
                       const std::string& out_dir) {
  RunDirectory run(run_dir);
  const std::string config_path = run.file("config.yaml");
  if (!fs::exists(config_path)) fail_at(run_dir, "not a run directory (no config.yaml)");
  auto t = build_training(load_run_config(config_path, {}));
  std::string checkpoint;
  for (const auto& dir : run.checkpoints()) {  // newest first
    if (step && fs::path(dir).filename().string() != checkpoint_name(*step)) continue;
    checkpoint = dir;
    break;
  }
  if (checkpoint.empty()) {
    fail_at(run.checkpoints_dir(),
            step ? "has no complete checkpoint of step " + std::to_string(*step)
                 : std::string("has no complete checkpoint"));
  }
  const std::string why = checkpoint_problem(checkpoint, run.metrics_bytes());
  if (!why.empty()) fail_at(checkpoint, "cannot be exported: ", why);
  const TrainState state = load_checkpoint(checkpoint, *t->model, *t->optimizer);

  fs::create_directories(out_dir);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& item : t->model->named_parameters()) {
    tensors.emplace_back(item.key(), item.value().to(torch::kFloat32));
  }
  write_safetensors(
      out_dir + "/model.safetensors", tensors,
      {{"format", "scalebed"}, {"format_version", std::to_string(kExportFormatVersion)}});

  const TransformerOptions& o = t->model->options();
  nlohmann::ordered_json j;
  j["format"] = "scalebed";
  j["format_version"] = kExportFormatVersion;
  j["source"] = {{"run", fs::absolute(run_dir).lexically_normal().string()},
                 {"checkpoint", fs::path(checkpoint).filename().string()},
                 {"step", state.step},
                 {"tokens", state.tokens}};
  // Everything the forward pass needs (model.md):
  //   x = embed[tokens]; per block: x += residual_scale·Attn(RMSNorm(x));
  //   x += residual_scale·MLP(RMSNorm(x)); logits = head_scale·Head(RMSNorm(x))
  j["model"] = {{"layers", o.layers},
                {"d_model", o.d_model},
                {"heads", o.heads},
                {"head_dim", o.head_dim()},
                {"context", o.context},
                {"mlp_ratio", o.mlp_ratio},
                {"vocab_in", o.vocab_in},
                {"vocab_out", o.vocab_out},
                {"causal", o.causal},
                {"qk_norm", o.qk_norm},
                {"attention_sink", o.attention_sink},
                {"soft_cap", o.soft_cap},
                {"rope_theta", o.rope_theta},
                {"norm_eps", o.norm_eps},
                {"residual_scale", o.residual_scale},
                {"head_scale", o.head_scale},
                {"norm", "rmsnorm with gain (1 + weight), fp32"},
                {"rope", "neox halves, fp32, positions 0..T-1"},
                {"mlp", "relu squared, with biases"},
                {"attention_sink_slot",
                 "one key/value per head before the sequence, "
                 "visible to every query, not rotated"}};
  nlohmann::ordered_json objective = {{"kind", t->objective->kind()},
                                      {"loss", t->objective->loss_kind()}};
  for (const auto& [k, v] : t->objective->summary_fields().items()) objective[k] = v;
  if (o.vocab_in > o.vocab_out) objective["mask_id"] = o.vocab_out;  // the extra input id
  j["objective"] = objective;
  j["data"] = {{"description", t->data.description},
               {"vocab", t->data.vocab},
               {"tokenizer", t->cfg.data.source == "text" ? t->cfg.data.tokenizer : ""}};
  write_file_atomic(out_dir + "/config.json", j.dump(2) + "\n");
  return checkpoint;
}

}  // namespace scalebed
