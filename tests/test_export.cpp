// `trainer export` and python/scalebed_model.py: a tiny autoregressive model
// (fused attention, sink, QK-norm) and a tiny masked-diffusion model
// (bidirectional, soft-capped blockwise attention, mask token) are trained for
// a few steps, exported, and loaded by the plain-PyTorch loader, whose logits
// on the same tokens must match the trainer's to 1e-5 (fp32). Also: the
// safetensors header and layout as the format defines them, and the loader's
// refusal of another format version.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "train/checkpoint.h"
#include "train/export.h"
#include "train/train.h"
#include "util/error.h"

namespace scalebed {
namespace {
namespace fs = std::filesystem;
using testing::read_text;
using testing::TempDir;
using testing::write_text;

const std::string kPython = SCALEBED_PYTHON;
const std::string kLoader = std::string(SCALEBED_SOURCE_DIR) + "/python/scalebed_model.py";

// Runs a shell command; returns its exit status and stdout.
std::pair<int, std::string> shell(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  const int status = p ? pclose(p) : -1;
  return {status, out};
}

// Trains `yaml` in-process, exports it, writes the trainer's logits on
// `tokens` next to the export, and returns the loader's largest |difference|.
double loader_difference(const TempDir& dir, const std::string& yaml, const torch::Tensor& tokens) {
  write_text(dir / "run.yaml", yaml);
  {
    auto t = build_training(load_run_config(dir / "run.yaml", {}));
    EXPECT_EQ(run_training(*t), kExitOk);
  }
  const std::string run = dir / "runs/run", out = dir / "export";
  export_run(run, std::nullopt, out);
  auto t = build_training(load_run_config(run + "/config.yaml", {}));
  load_checkpoint(RunDirectory(run).checkpoints().front(), *t->model, *t->optimizer);
  t->model->eval();
  torch::NoGradGuard no_grad;
  write_safetensors(dir / "reference.safetensors",
                    {{"tokens", tokens}, {"logits", t->model->forward(tokens)}}, {});
  const std::string script = "import sys; sys.path.insert(0, '" + std::string(SCALEBED_SOURCE_DIR) +
                             "/python'); import torch, scalebed_model as s; m = s.load('" + out +
                             "'); ref, _ = s.read_safetensors('" + (dir / "reference.safetensors") +
                             "'); print((m(ref['tokens']) - ref['logits']).abs().max().item())";
  const auto [status, text] = shell(kPython + " -c \"" + script + "\" 2>&1");
  EXPECT_EQ(status, 0) << text;
  return status == 0 ? std::stod(text.substr(text.find_last_of('\n', text.size() - 2) + 1)) : 1e9;
}

const char* kRun =
    "name: run\nout_dir: {DIR}/runs\n"
    "model: {layers: 2, d_model: 32, heads: 2, context: 24}\n"
    "train: {batch_size: 8, steps: 20, eval_every: 0, log_every: 10, checkpoint_every: 10}\n";

std::string run_yaml(const TempDir& dir, const std::string& extra) {
  std::string y = kRun;
  y.replace(y.find("{DIR}"), 5, std::string(dir / ""));
  return y + extra;
}

TEST(Export, ThePythonLoaderGivesTheTrainersLogits) {
  if (kPython.empty() || !fs::exists(kPython)) {
    GTEST_SKIP() << "no Python with torch configured (SCALEBED_PYTHON)";
  }
  torch::manual_seed(3);
  {
    TempDir dir;
    const auto tokens = torch::randint(0, 32, {3, 24}, torch::kLong);
    const double diff = loader_difference(dir, run_yaml(dir, ""), tokens);
    EXPECT_LT(diff, 1e-5) << "autoregressive";
    const auto config = nlohmann::json::parse(read_text(dir / "export/config.json"));
    EXPECT_EQ(config["model"]["causal"], true);
    EXPECT_EQ(config["source"]["step"], 20);
  }
  {
    TempDir dir;
    const std::string diffusion =
        "objective: {kind: diffusion, noise: masked}\nmodel: {soft_cap: 30}\n";
    auto tokens = torch::randint(0, 33, {3, 24}, torch::kLong);  // 32 is the mask token
    const double diff = loader_difference(dir, run_yaml(dir, "") + diffusion, tokens);
    EXPECT_LT(diff, 1e-5) << "masked diffusion";
    const auto config = nlohmann::json::parse(read_text(dir / "export/config.json"));
    EXPECT_EQ(config["model"]["causal"], false);
    EXPECT_EQ(config["model"]["soft_cap"], 30.0);
    EXPECT_EQ(config["objective"]["mask_id"], config["model"]["vocab_out"]);
    // Another format version is refused by name.
    auto changed = config;
    changed["format_version"] = 2;
    write_text(dir / "export/config.json", changed.dump());
    const auto [status, text] = shell(kPython + " " + kLoader + " " + (dir / "export") + " 2>&1");
    EXPECT_NE(status, 0);
    EXPECT_NE(text.find("not a scalebed export of format version 1"), std::string::npos) << text;
  }
}

TEST(Export, SafetensorsLayoutIsTheFormats) {
  TempDir dir;
  const auto a = torch::arange(6, torch::kFloat32).view({2, 3});
  const auto b = torch::tensor({7, 8}, torch::kLong);
  write_safetensors(dir / "x.safetensors", {{"a", a}, {"b", b}}, {{"k", "v"}});
  const std::string bytes = read_text(dir / "x.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);  // the buffers start 8-byte aligned
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["__metadata__"]["k"], "v");
  EXPECT_EQ(header["a"]["dtype"], "F32");
  EXPECT_EQ(header["a"]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(header["a"]["data_offsets"], nlohmann::json({0, 24}));
  EXPECT_EQ(header["b"]["dtype"], "I64");
  EXPECT_EQ(header["b"]["data_offsets"], nlohmann::json({24, 40}));
  EXPECT_EQ(bytes.size(), 8 + n + 40);
  float third = 0;
  std::memcpy(&third, bytes.data() + 8 + n + 2 * 4, 4);
  EXPECT_EQ(third, 2.0f);
}

TEST(Export, SafetensorsReadBackAndDamagedFilesAreNamed) {
  // What write_safetensors wrote reads back bit for bit; a truncated file, a
  // header longer than the file and a byte range that does not hold its
  // shape are errors naming the file and, where it applies, the tensor.
  TempDir dir;
  const auto a = torch::randn({3, 5});
  const auto b = torch::randn({4}).to(torch::kBFloat16);
  const auto c = torch::tensor({7, -8}, torch::kLong);
  write_safetensors(dir / "x.safetensors", {{"a", a}, {"b", b}, {"c", c}}, {{"k", "v"}});
  const auto back = read_safetensors(dir / "x.safetensors");
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].first, "a");
  EXPECT_TRUE(torch::equal(back[0].second, a));
  EXPECT_TRUE(torch::equal(back[1].second, b));
  EXPECT_TRUE(torch::equal(back[2].second, c));
  auto error_of = [&](const std::string& bytes) {
    write_text(dir / "bad.safetensors", bytes);
    try {
      read_safetensors(dir / "bad.safetensors");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string good = read_text(dir / "x.safetensors");
  const std::string cut = error_of(good.substr(0, good.size() - 3));
  EXPECT_NE(cut.find("bad.safetensors"), std::string::npos) << cut;
  EXPECT_NE(cut.find("tensor 'c'"), std::string::npos) << cut;
  std::string long_header = good;
  const uint64_t huge = good.size();
  std::memcpy(long_header.data(), &huge, 8);
  EXPECT_NE(error_of(long_header).find("does not fit the file"), std::string::npos);
  uint64_t n = 0;
  std::memcpy(&n, good.data(), 8);
  std::string header = good.substr(8, n);
  header.replace(header.find("[3,5]"), 5, "[3,6]");
  EXPECT_NE(error_of(good.substr(0, 8) + header + good.substr(8 + n)).find("tensor 'a'"),
            std::string::npos);
  EXPECT_NE(error_of("short").find("not a safetensors file"), std::string::npos);
}

TEST(Export, AFreshRunStartsFromAnExportsWeightsAndRefusesOnesThatDoNotFit) {
  // A run trained 20 steps and exported; a new run of the same shape with
  // model.init_from starts from those weights (its parameters equal the
  // export's before it trains, whatever its own seed), while a run of
  // another width refuses the folder, naming the tensors, with its own
  // weights untouched.
  TempDir dir;
  write_text(dir / "run.yaml", run_yaml(dir, ""));
  {
    auto t = build_training(load_run_config(dir / "run.yaml", {}));
    ASSERT_EQ(run_training(*t), kExitOk);
  }
  export_run(dir / "runs/run", std::nullopt, dir / "export");
  std::map<std::string, torch::Tensor> exported;
  for (auto& [name, w] : read_safetensors(dir / "export/model.safetensors")) exported[name] = w;

  auto fresh = build_training(load_run_config(dir / "run.yaml", {"seed=99", "name=fresh"}));
  size_t differing = 0;
  for (const auto& item : fresh->model->named_parameters()) {
    differing += !torch::equal(item.value(), exported.at(item.key()));
  }
  EXPECT_GT(differing, 0u);  // another seed: another initialization
  load_exported_weights(*fresh->model, dir / "export");
  for (const auto& item : fresh->model->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), exported.at(item.key()))) << item.key();
  }

  auto wider = build_training(load_run_config(dir / "run.yaml", {"model.d_model=64"}));
  const auto before = wider->model->named_parameters()["embed.weight"].clone();
  try {
    load_exported_weights(*wider->model, dir / "export");
    ADD_FAILURE() << "a model of another width accepted the export";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("does not fit this model"), std::string::npos) << what;
    EXPECT_NE(what.find("embed.weight: shape [32, 32] in the file, [32, 64] in this model"),
              std::string::npos)
        << what;
  }
  EXPECT_TRUE(torch::equal(wider->model->named_parameters()["embed.weight"], before));

  // Through the trainer (--init-from sets this key): the fresh run says where
  // its weights came from.
  auto config = load_run_config(
      dir / "run.yaml",
      {"name=init", "train.steps=1", "model.init_from=" + std::string(dir / "export")});
  auto t = build_training(config);
  ASSERT_EQ(run_training(*t), kExitOk);
  EXPECT_NE(read_text(dir / "runs/init/log.txt").find("initialized the weights from"),
            std::string::npos);
  // An export that does not fit fails the run before its directory exists,
  // so the corrected command is not refused as a changed config.
  auto misfit = build_training(load_run_config(
      dir / "run.yaml",
      {"name=misfit", "model.d_model=64", "model.init_from=" + std::string(dir / "export")}));
  EXPECT_THROW(run_training(*misfit), Error);
  EXPECT_FALSE(fs::exists(dir / "runs/misfit"));
}

}  // namespace
}  // namespace scalebed
