// Safetensors writing and `trainer export`.
#include "train/export.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
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

std::vector<std::pair<std::string, torch::Tensor>> read_safetensors(const std::string& path) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors is little-endian");
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) fail_at(path, "cannot read: ", ec.message());
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail_at(path, "cannot open: ", std::strerror(errno));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, &std::fclose);
  auto read_exactly = [&](void* into, size_t n) {
    if (std::fread(into, 1, n, f) != n) fail_at(path, "truncated (", size, " bytes)");
  };
  uint64_t header_bytes = 0;
  if (size < 8) fail_at(path, "not a safetensors file (", size, " bytes)");
  read_exactly(&header_bytes, 8);
  if (header_bytes > size - 8 || header_bytes > (100u << 20)) {
    fail_at(path, "header length ", header_bytes, " does not fit the file (", size, " bytes)");
  }
  std::string text(header_bytes, '\0');
  read_exactly(text.data(), header_bytes);
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(text);
  } catch (const std::exception& e) {
    fail_at(path, "header is not JSON: ", e.what());
  }
  const uint64_t buffer_bytes = size - 8 - header_bytes;
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    auto bad = [&](const std::string& why) { fail_at(path, "tensor '", name, "': ", why); };
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      bad("needs dtype, shape and data_offsets");
    }
    const std::string dtype = entry["dtype"].is_string() ? entry["dtype"].get<std::string>() : "";
    const std::map<std::string, torch::ScalarType> types = {{"F32", torch::kFloat32},
                                                            {"BF16", torch::kBFloat16},
                                                            {"F16", torch::kFloat16},
                                                            {"I64", torch::kInt64}};
    if (!types.count(dtype)) bad("unsupported dtype '" + dtype + "'");
    std::vector<int64_t> shape;
    int64_t numel = 1;
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) bad("a dimension is not a count");
      shape.push_back(d.get<int64_t>());
      numel *= shape.back();
    }
    const auto& range = entry["data_offsets"];
    if (!range.is_array() || range.size() != 2 || !range[0].is_number_unsigned() ||
        !range[1].is_number_unsigned()) {
      bad("data_offsets is not [begin, end]");
    }
    const uint64_t begin = range[0].get<uint64_t>(), end = range[1].get<uint64_t>();
    const auto type = types.at(dtype);
    if (end < begin || end > buffer_bytes ||
        end - begin != static_cast<uint64_t>(numel) * c10::elementSize(type)) {
      bad("byte range [" + std::to_string(begin) + ", " + std::to_string(end) +
          ") does not hold its shape or lies outside the " + std::to_string(buffer_bytes) +
          "-byte buffer");
    }
    torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(type));
    if (std::fseek(f, static_cast<long>(8 + header_bytes + begin), SEEK_SET) != 0) {
      fail_at(path, "cannot seek: ", std::strerror(errno));
    }
    read_exactly(t.data_ptr(), end - begin);
    out.emplace_back(name, t);
  }
  return out;
}

void load_exported_weights(torch::nn::Module& model, const std::string& dir) {
  const std::string config_path = dir + "/config.json";
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(read_file(config_path));
  } catch (const nlohmann::json::exception& e) {
    fail_at(config_path, "not JSON: ", e.what());
  }
  if (config.value("format", "") != "scalebed" ||
      config.value("format_version", 0) != kExportFormatVersion) {
    fail_at(config_path, "not a scalebed export of format version ", kExportFormatVersion,
            " (found format '", config.value("format", ""), "', version ",
            config.value("format_version", 0), ")");
  }
  const std::string weights_path = dir + "/model.safetensors";
  std::map<std::string, torch::Tensor> weights;
  for (auto& [name, t] : read_safetensors(weights_path)) weights[name] = t;
  // Check everything first, so that a mismatch leaves the model as it was.
  std::string problems;
  auto params = model.named_parameters();
  for (const auto& item : params) {
    auto w = weights.find(item.key());
    if (w == weights.end()) {
      problems += "\n  missing: " + item.key();
    } else if (w->second.sizes() != item.value().sizes()) {
      problems += "\n  " + item.key() + ": shape " + c10::str(w->second.sizes()) +
                  " in the file, " + c10::str(item.value().sizes()) + " in this model";
    }
  }
  for (const auto& [name, t] : weights) {
    if (!params.contains(name)) problems += "\n  not in this model: " + name;
  }
  if (!problems.empty()) {
    fail_at(weights_path,
            "does not fit this model (model.* keys must match the export):", problems);
  }
  torch::NoGradGuard no_grad;
  for (auto& item : params) item.value().copy_(weights.at(item.key()));
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
