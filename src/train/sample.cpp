// `trainer sample`: generate from a run's newest checkpoint with the run's
// objective (AR ancestral; diffusion ancestral or adaptive).
#include <filesystem>
#include <sstream>

#include "train/checkpoint.h"
#include "train/run_dir.h"
#include "train/train.h"
#include "util/error.h"

namespace scalebed {

std::vector<std::string> sample_from_run(const std::string& run_dir, const SampleOptions& options,
                                         const std::string& prompt_text) {
  RunDirectory run(run_dir);
  const std::string config_path = run.file("config.yaml");
  if (!std::filesystem::exists(config_path))
    fail_at(run_dir, "not a run directory (no config.yaml)");
  auto t = build_training(load_run_config(config_path, {}));
  const auto checkpoints = run.checkpoints();
  if (checkpoints.empty()) fail_at(run_dir, "has no complete checkpoint to sample from");
  load_checkpoint(checkpoints.front(), *t->model, *t->optimizer);
  t->model->eval();

  torch::Tensor prompt;
  if (!prompt_text.empty()) {
    if (!t->data.tokenizer) throw Error("--prompt needs a text data source (a known tokenizer)");
    auto ids = t->data.tokenizer->encode(prompt_text);
    prompt = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kLong).unsqueeze(0);
  }
  auto tokens = t->objective->sample(*t->model, options, prompt);  // (num, length)
  std::vector<std::string> out;
  for (int64_t i = 0; i < tokens.size(0); ++i) {
    auto row = tokens[i].contiguous();
    std::vector<int64_t> ids(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
    if (t->data.tokenizer) {
      out.push_back(t->data.tokenizer->decode(ids));
    } else {
      std::ostringstream line;
      for (size_t k = 0; k < ids.size(); ++k) line << (k ? " " : "") << ids[k];
      out.push_back(line.str());
    }
  }
  return out;
}

}  // namespace scalebed
