// Atomic checkpoint directories with tensors in a torch archive.
#include "train/checkpoint.h"

#include <cstdio>
#include <filesystem>

#include "util/error.h"
#include "util/fs.h"

namespace scalebed {
namespace fs = std::filesystem;

nlohmann::json TrainState::to_json() const {
  return {{"step", step},
          {"tokens", tokens},
          {"elapsed_s", elapsed_s},
          {"metrics_bytes", metrics_bytes},
          {"flops_executed", flops_executed},
          {"best_val_loss", best_val_loss},
          {"last_val_loss", last_val_loss},
          {"metric_since_log", metric_since_log},
          {"steps_since_log", steps_since_log}};
}

TrainState TrainState::from_json(const nlohmann::json& j) {
  TrainState s;
  s.step = j.at("step").get<int64_t>();
  s.tokens = j.at("tokens").get<int64_t>();
  s.elapsed_s = j.at("elapsed_s").get<double>();
  s.metrics_bytes = j.at("metrics_bytes").get<int64_t>();
  s.flops_executed = j.value("flops_executed", 0.0);  // absent in checkpoints before it existed
  s.best_val_loss = j.at("best_val_loss").get<double>();
  s.last_val_loss = j.at("last_val_loss").get<double>();
  s.metric_since_log = j.value("metric_since_log", 0.0);  // absent in older checkpoints
  s.steps_since_log = j.value("steps_since_log", int64_t{0});
  return s;
}

void save_checkpoint(const RunDirectory& run, TransformerImpl& model, const Optimizer& optimizer,
                     const TrainState& state, int64_t keep) {
  char name[32];
  std::snprintf(name, sizeof name, "step_%08lld", static_cast<long long>(state.step));
  const fs::path final_dir = fs::path(run.checkpoints_dir()) / name;
  const fs::path tmp_dir = fs::path(run.checkpoints_dir()) / (std::string(".tmp-") + name);
  fs::remove_all(tmp_dir);
  fs::create_directories(tmp_dir);

  torch::serialize::OutputArchive archive;
  for (const auto& item : model.named_parameters())
    archive.write("model." + item.key(), item.value());
  for (const auto& item : model.named_buffers())
    archive.write("buffer." + item.key(), item.value());
  for (const auto& [key, tensor] : optimizer.state()) archive.write("optim." + key, tensor);
  archive.save_to((tmp_dir / "tensors.pt").string());
  nlohmann::json meta = state.to_json();
  meta["optimizer_steps"] = optimizer.steps_done();
  write_file_atomic((tmp_dir / "state.json").string(), meta.dump(2) + "\n");

  // The rename is what makes a checkpoint complete.
  fs::remove_all(final_dir);
  fs::rename(tmp_dir, final_dir);
  sync_directory(run.checkpoints_dir());

  auto all = run.checkpoints();
  for (size_t i = static_cast<size_t>(keep); i < all.size(); ++i) fs::remove_all(all[i]);
}

TrainState load_checkpoint(const std::string& dir, TransformerImpl& model, Optimizer& optimizer) {
  const std::string tensors = dir + "/tensors.pt", meta_path = dir + "/state.json";
  for (const auto& f : {tensors, meta_path}) {
    if (!fs::exists(f)) fail_at(f, "checkpoint file missing (incomplete checkpoint?)");
  }
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_file(meta_path));
  } catch (const nlohmann::json::exception& e) {
    fail_at(meta_path, "corrupt checkpoint metadata: ", e.what());
  }
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(tensors);
  } catch (const c10::Error& e) {
    fail_at(tensors, "cannot read checkpoint tensors: ", e.what_without_backtrace());
  }
  torch::NoGradGuard no_grad;
  auto read = [&](const std::string& key, torch::Tensor& target) {
    torch::Tensor t;
    if (!archive.try_read(key, t)) fail_at(tensors, "checkpoint lacks '", key, "'");
    if (!t.sizes().equals(target.sizes())) {
      fail_at(tensors, "'", key, "' has shape ", t.sizes(), ", the model expects ", target.sizes(),
              " (different model config?)");
    }
    target.copy_(t);
  };
  for (auto& item : model.named_parameters()) read("model." + item.key(), item.value());
  for (auto& item : model.named_buffers()) read("buffer." + item.key(), item.value());
  std::vector<std::pair<std::string, torch::Tensor>> state;
  for (auto& [key, tensor] : optimizer.state()) {
    torch::Tensor t = torch::empty_like(tensor);
    read("optim." + key, t);
    state.emplace_back(key, t);
  }
  try {
    optimizer.load_state(state, meta.at("optimizer_steps").get<int64_t>());
    return TrainState::from_json(meta);
  } catch (const nlohmann::json::exception& e) {
    fail_at(meta_path, "corrupt checkpoint metadata: ", e.what());
  }
}

}  // namespace scalebed
