// End-to-end runs of the `trainer` binary: a tiny AR model against the
// synthetic source's exact optimal loss, kill-and-resume against an
// uninterrupted run (bit-identical losses on CPU), signals, non-finite
// losses, and the run-directory contract.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include "data/synthetic_hmm.h"
#include "train/tensorboard.h"
#include "trainer_process.h"

namespace scalebed {
namespace {
namespace fs = std::filesystem;

// A small, fast run: d=32, T=32, batch 16, logging every step.
std::string small_config(const std::string& out_dir, int steps) {
  return "name: run\nout_dir: " + out_dir +
         "\nmodel:\n  layers: 2\n  d_model: 32\n  heads: 2\n  context: 32\n"
         "data:\n  synthetic:\n    train_tokens: 200000\n    val_tokens: 8192\n"
         "optim:\n  lr: 3e-3\n"
         "schedule:\n  kind: cosine\n  warmup_steps: 10\n"
         "train:\n  batch_size: 16\n  micro_batch: 8\n  steps: " +
         std::to_string(steps) +
         "\n  eval_every: 25\n  eval_batches: 2\n  log_every: 1\n  checkpoint_every: 20\n";
}

std::vector<nlohmann::json> metrics_of(const std::string& run_dir) {
  return testing::read_jsonl(run_dir + "/metrics.jsonl");
}

size_t count_lines(const std::string& path) {
  std::ifstream in(path);
  return std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n');
}

// The quantities that must agree exactly between a resumed and an
// uninterrupted run (timings excluded).
std::vector<std::string> curve(const std::vector<nlohmann::json>& metrics) {
  std::vector<std::string> out;
  for (const auto& m : metrics) {
    out.push_back(m.at("step").dump() + " " + m.at("train_loss").dump() + " " +
                  m.at("grad_norm").dump() + " " + m.at("lr").dump() + " " +
                  (m.contains("val_loss") ? m.at("val_loss").dump() : "-"));
  }
  return out;
}

// Trains the shape of configs/tiny.yaml (L2, d64, T64, batch 32) on the
// synthetic source with `objective` YAML added; returns summary.json.
nlohmann::json train_tiny(const TempDir& dir, const std::string& name, const std::string& objective,
                          int steps, int eval_every) {
  write_text(dir / (name + ".yaml"),
             "name: " + name + "\nout_dir: " + dir.path() +
                 "\nmodel:\n  layers: 2\n  d_model: 64\n  heads: 4\n  context: 64\n" + objective +
                 "optim:\n  lr: 3e-3\nschedule:\n  kind: wsd\n  warmup_steps: 50\n"
                 "train:\n  batch_size: 32\n  steps: " +
                 std::to_string(steps) + "\n  eval_every: " + std::to_string(eval_every) +
                 "\n  eval_batches: 8\n");
  auto r = run_process({kTrainer, "--config", dir / (name + ".yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return nlohmann::json::parse(read_text(dir / (name + "/summary.json")));
}

// No validation loss falls below the exact optimum on the same windows
// beyond Monte-Carlo noise.
void expect_never_below(const std::vector<nlohmann::json>& metrics, double floor, double noise) {
  for (const auto& m : metrics) {
    if (m.contains("val_loss")) EXPECT_GT(m.at("val_loss").get<double>(), floor - noise);
  }
}

TEST(Training, TinyArModelApproachesTheSyntheticFloor) {
  TempDir dir;
  auto summary = train_tiny(dir, "tiny", "", 250, 50);
  const double floor = summary.at("optimal_val_loss"), final_loss = summary.at("final_val_loss");
  EXPECT_LT(final_loss, 1.10 * floor) << "floor " << floor;
  expect_never_below(metrics_of(dir / "tiny"), floor, 0.01);
  // Where it started: the uniform-ish loss is far above the floor.
  EXPECT_GT(metrics_of(dir / "tiny").front().at("train_loss").get<double>(), 1.5 * floor);
}

TEST(Training, RunDirectoryFollowsTheContract) {
  TempDir dir;
  write_text(dir / "c.yaml", small_config(dir.path(), 30));
  auto r = run_process({kTrainer, "--config", dir / "c.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* f : {"config.yaml", "metrics.jsonl", "summary.json", "DONE", "log.txt"}) {
    EXPECT_TRUE(fs::exists(dir / (std::string("run/") + f))) << f;
  }
  auto metrics = metrics_of(dir / "run");
  ASSERT_EQ(metrics.size(), 30u);
  for (const char* key :
       {"step", "tokens", "flops_6nd", "flops_palm", "flops_md", "train_loss", "train_metric",
        "train_metric_mean", "lr", "grad_norm", "tokens_per_s", "elapsed_s"}) {
    EXPECT_TRUE(metrics.back().contains(key)) << key;
  }
  // Logged every step: the mean since the previous line is that step's metric.
  for (const auto& m : metrics) EXPECT_EQ(m.at("train_metric_mean"), m.at("train_metric"));
  EXPECT_TRUE(metrics[24].contains("val_loss"));
  EXPECT_FALSE(metrics[23].contains("val_loss"));
  EXPECT_EQ(metrics.back().at("tokens"), 30 * 16 * 32);
  auto s = nlohmann::json::parse(read_text(dir / "run/summary.json"));
  EXPECT_EQ(s.at("format"), 1);
  EXPECT_EQ(s.at("status"), "done");
  EXPECT_EQ(s.at("objective"), "ar");
  EXPECT_EQ(s.at("loss_kind"), "nll");
  EXPECT_EQ(s.at("steps"), 30);
  EXPECT_EQ(s.at("batch_tokens"), 16 * 32);
  // The schedule tells the analysis whether the curve's intermediate losses
  // are those of shorter runs (only a constant LR's are).
  EXPECT_EQ(s.at("schedule").at("kind"), "cosine");
  EXPECT_EQ(s.at("schedule").at("warmup_steps"), 10);
  for (const char* key : {"name", "model", "params", "base_lr", "tokens", "flops", "final_val_loss",
                          "best_val_loss", "wall_s", "device", "commit"}) {
    EXPECT_TRUE(s.contains(key)) << key;
  }
  EXPECT_DOUBLE_EQ(s["flops"]["6nd"].get<double>(), metrics.back().at("flops_6nd").get<double>());
  // Executed FLOPs: the PaLM count of training plus the forward passes of the
  // two evaluations (2 batches x 8 sequences x 32 tokens each).
  const double palm_per_token = s["flops_per_token"]["palm"].get<double>();
  EXPECT_NEAR(metrics.back().at("flops_executed").get<double>(),
              palm_per_token * (30 * 16 * 32 + 2 * 2 * 8 * 32 / 3.0), 1.0);
  EXPECT_DOUBLE_EQ(s["flops"]["executed"].get<double>(),
                   metrics.back().at("flops_executed").get<double>());

  // Running it again does nothing.
  const std::string before = read_text(dir / "run/metrics.jsonl");
  r = run_process({kTrainer, "--config", dir / "c.yaml"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("already done"), std::string::npos);
  EXPECT_EQ(read_text(dir / "run/metrics.jsonl"), before);
}

// The curve of an uninterrupted run of small_config(steps).
std::vector<std::string> uninterrupted_curve(int steps) {
  TempDir dir;
  write_text(dir / "c.yaml", small_config(dir.path(), steps));
  EXPECT_EQ(run_process({kTrainer, "--config", dir / "c.yaml"}).exit_code, 0);
  return curve(metrics_of(dir / "run"));
}

TEST(Training, SigkillAndResumeEqualsUninterrupted) {
  TempDir dir;
  const int steps = 150;
  write_text(dir / "c.yaml", small_config(dir.path(), steps));
  pid_t pid = spawn_process({kTrainer, "--config", dir / "c.yaml"}, dir / "first.log");
  // Kill well after a checkpoint, so that resuming must drop logged steps.
  ASSERT_TRUE(wait_until(
      [&] {
        return fs::exists(dir / "run/checkpoints/step_00000060") &&
               count_lines(dir / "run/metrics.jsonl") >= 70;
      },
      120));
  kill(pid, SIGKILL);
  EXPECT_EQ(wait_process(pid), -SIGKILL);
  ASSERT_FALSE(fs::exists(dir / "run/DONE")) << "the run finished before it could be killed";

  auto r = run_process({kTrainer, "--config", dir / "c.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from"), std::string::npos);
  EXPECT_EQ(curve(metrics_of(dir / "run")), uninterrupted_curve(steps));
}

// TensorBoard (train/tensorboard.h): CRC32C against the iSCSI check value,
// then the event files of a run read back by TensorBoard's own reader (PyPI's
// tensorboard, in the project's virtual environment): every metrics line is
// one event whose scalars equal its numbers (as float32), and a run resumed
// from its step-20 checkpoint after reaching step 30 (its last 10 lines and
// events dropped, then written again) has each step exactly once.
TEST(Training, TensorBoardEventsFollowTheMetricsAcrossAResume) {
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  const std::string python = SCALEBED_PYTHON;
  if (python.empty() || run_process({python, "-c", "import tensorboard"}).exit_code != 0) {
    GTEST_SKIP() << "TensorBoard's reader is not installed in " << python
                 << " (scripts/setup.sh installs it)";
  }
  TempDir dir;
  write_text(dir / "c.yaml", small_config(dir.path(), 30));
  ASSERT_EQ(run_process({kTrainer, "--config", dir / "c.yaml"}).exit_code, 0);
  fs::remove_all(dir / "run/checkpoints/step_00000030");
  fs::remove(dir / "run/DONE");
  auto resumed = run_process({kTrainer, "--config", dir / "c.yaml"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  ASSERT_NE(resumed.output.find("(step 20)"), std::string::npos) << resumed.output;
  write_text(dir / "read.py",
             "import sys\n"
             "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n"
             "ea = EventAccumulator(sys.argv[1]); ea.Reload()\n"
             "for tag in sorted(ea.Tags()['scalars']):\n"
             "    for e in ea.Scalars(tag): print(tag, e.step, repr(e.value))\n");
  auto read = run_process({python, dir / "read.py", dir / "run/tb"});
  ASSERT_EQ(read.exit_code, 0) << read.output;
  std::map<std::string, std::map<int64_t, std::vector<double>>> events;  // tag -> step -> values
  std::istringstream lines(read.output);
  for (std::string tag; lines >> tag;) {
    int64_t step;
    double value;
    lines >> step >> value;
    events[tag][step].push_back(value);
  }
  const auto metrics = metrics_of(dir / "run");
  ASSERT_EQ(metrics.size(), 30u);
  for (const auto& [key, tag] : std::vector<std::pair<std::string, std::string>>{
           {"train_loss", "train/loss"},
           {"val_loss", "val/loss"},
           {"lr", "lr"},
           {"grad_norm", "grad_norm"},
           {"tokens", "tokens"},
           {"flops_md", "flops/md"},
           {"train_metric_mean", "train/metric_mean"}}) {
    size_t expected = 0;
    for (const auto& m : metrics) {
      if (!m.contains(key)) continue;
      ++expected;
      const auto& values = events[tag][m.at("step").get<int64_t>()];
      ASSERT_EQ(values.size(), 1u) << tag << " at step " << m.at("step");  // once, not twice
      EXPECT_EQ(values[0], static_cast<double>(m.at(key).get<float>())) << tag;
    }
    EXPECT_EQ(events[tag].size(), expected) << tag;  // no step without a metrics line
  }
}

TEST(Training, SigtermCheckpointsExitsForRequeueAndResumes) {
  TempDir dir;
  const int steps = 120;
  write_text(dir / "c.yaml", small_config(dir.path(), steps));
  pid_t pid = spawn_process({kTrainer, "--config", dir / "c.yaml"}, dir / "first.log");
  ASSERT_TRUE(wait_until([&] { return count_lines(dir / "run/metrics.jsonl") >= 25; }, 120));
  kill(pid, SIGTERM);
  EXPECT_EQ(wait_process(pid), 75) << read_text(dir / "first.log");
  auto s = nlohmann::json::parse(read_text(dir / "run/summary.json"));
  EXPECT_EQ(s.at("status"), "running");
  const int stopped = s.at("steps");
  EXPECT_LT(stopped, steps);
  char name[32];
  std::snprintf(name, sizeof name, "run/checkpoints/step_%08d", stopped);
  EXPECT_TRUE(fs::exists(dir / name)) << name;

  auto r = run_process({kTrainer, "--config", dir / "c.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(curve(metrics_of(dir / "run")), uninterrupted_curve(steps));
}

TEST(Training, MetricMeansCoverEveryStepSinceThePreviousLineAcrossAResume) {
  // Logged every 7 steps, each line's train_metric_mean is the mean of the 7
  // per-step metrics of a run that logs every step; a SIGTERM between two
  // lines checkpoints the partial sum, so the resumed run's means are exact too.
  TempDir dir;
  const int steps = 120;
  write_text(dir / "every.yaml", small_config(dir / "every", steps));
  ASSERT_EQ(run_process({kTrainer, "--config", dir / "every.yaml"}).exit_code, 0);
  std::vector<double> per_step = {0};  // per_step[k]: step k's metric
  for (const auto& m : metrics_of(dir / "every/run")) per_step.push_back(m.at("train_metric"));
  ASSERT_EQ(per_step.size(), static_cast<size_t>(steps + 1));

  write_text(dir / "c.yaml", small_config(dir.path(), steps));
  const std::vector<std::string> sparse = {"--set", "train.log_every=7", "--set",
                                           "train.checkpoint_every=1000"};
  std::vector<std::string> cmd = {kTrainer, "--config", dir / "c.yaml"};
  cmd.insert(cmd.end(), sparse.begin(), sparse.end());
  pid_t pid = spawn_process(cmd, dir / "first.log");
  ASSERT_TRUE(wait_until([&] { return count_lines(dir / "run/metrics.jsonl") >= 3; }, 120));
  kill(pid, SIGTERM);
  EXPECT_EQ(wait_process(pid), 75) << read_text(dir / "first.log");
  const int stopped = nlohmann::json::parse(read_text(dir / "run/summary.json")).at("steps");
  auto r = run_process(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int previous = 0;
  bool spans_the_stop = false;
  for (const auto& m : metrics_of(dir / "run")) {
    const int step = m.at("step");
    double mean = 0;
    for (int k = previous + 1; k <= step; ++k) mean += per_step[k] / (step - previous);
    EXPECT_NEAR(m.at("train_metric_mean").get<double>(), mean, 1e-12 * std::abs(mean)) << step;
    spans_the_stop = spans_the_stop || (previous < stopped && stopped < step);
    previous = step;
  }
  EXPECT_EQ(previous, steps);
  EXPECT_TRUE(spans_the_stop || stopped % 7 == 0) << "stopped at " << stopped;
}

TEST(Training, NonFiniteLossStopsWithDiagnosticAndKeepsLastCheckpoint) {
  TempDir dir;
  write_text(dir / "c.yaml", small_config(dir.path(), 50));
  auto r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "optim.lr=1e30", "--set",
                        "schedule.warmup_steps=0", "--set", "train.checkpoint_every=1"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("non-finite"), std::string::npos) << r.output;
  auto s = nlohmann::json::parse(read_text(dir / "run/summary.json"));
  EXPECT_EQ(s.at("status"), "failed");
  EXPECT_NE(s.at("reason").get<std::string>().find("at step"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "run/DONE"));
  // The newest checkpoint predates the failure and is complete.
  const int failed_at = s.at("steps");
  char name[32];
  std::snprintf(name, sizeof name, "run/checkpoints/step_%08d", failed_at);
  EXPECT_TRUE(fs::exists(dir / name + std::string("/tensors.pt")));
}

TEST(Training, RefusesToResumeWithADifferentConfig) {
  TempDir dir;
  write_text(dir / "c.yaml", small_config(dir.path(), 5));
  ASSERT_EQ(run_process({kTrainer, "--config", dir / "c.yaml", "--set", "train.steps=3"}).exit_code,
            0);
  fs::remove(dir / "run/DONE");
  auto r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "optim.lr=0.01"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("optim.lr: 3e-3 -> 0.01"), std::string::npos) << r.output;
  // Changing only how often things are logged is fine.
  r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "train.steps=3", "--set",
                   "train.log_every=2"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // A run directory written before a key existed resumes while the key keeps
  // its default, and is refused when it does not.
  std::string written = read_text(dir / "run/config.yaml");
  const size_t line = written.find("eval_sequences:");
  ASSERT_NE(line, std::string::npos) << written;
  written.erase(written.rfind('\n', line) + 1,
                written.find('\n', line) - written.rfind('\n', line));
  write_text(dir / "run/config.yaml", written);
  r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "train.steps=3"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // A finished run asked for with another length is refused too (it said
  // "already done" without a word about the change).
  r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "train.steps=4"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("train.steps: 3 -> 4"), std::string::npos) << r.output;
  fs::remove(dir / "run/DONE");
  r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "train.eval_sequences=8"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("train.eval_sequences: (absent) -> 8"), std::string::npos) << r.output;
}

TEST(Training, EvalSequencesAreTheSameWindowsWhateverTheMicroBatch) {
  // Same model and global batch, micro-batches of 8 and of 16: training is
  // the same up to accumulation rounding (diffusion seeds its noise by the
  // global row, not the micro-batch), so the validation losses agree when
  // both evaluate the same 24 windows (chunks 8+8+8 vs 16+8), and not when
  // eval_batches counts micro-batches (16 vs 32 windows).
  for (const std::string objective : {"", "objective: {kind: diffusion}\n"}) {
    TempDir dir;
    write_text(dir / "c.yaml", small_config(dir.path(), 10) + objective);
    auto final_val = [&](const std::string& name, const std::vector<std::string>& sets) {
      std::vector<std::string> argv = {kTrainer, "--config", dir / "c.yaml", "--set",
                                       "name=" + name};
      for (const auto& s : sets) argv.insert(argv.end(), {"--set", s});
      auto r = run_process(argv);
      EXPECT_EQ(r.exit_code, 0) << r.output;
      return nlohmann::json::parse(read_text(dir / (name + "/summary.json")))
          .at("final_val_loss")
          .get<double>();
    };
    const double a = final_val("a", {"train.eval_sequences=24"});
    const double b = final_val("b", {"train.eval_sequences=24", "train.micro_batch=16"});
    EXPECT_NEAR(a, b, 1e-5) << objective;
    const double c = final_val("c", {});
    const double d = final_val("d", {"train.micro_batch=16"});
    EXPECT_GT(std::abs(c - d), 1e-4) << objective << ": the contrast this test relies on";
  }
}

TEST(Training, CorruptCheckpointIsAClearError) {
  TempDir dir;
  write_text(dir / "c.yaml", small_config(dir.path(), 20));
  ASSERT_EQ(run_process({kTrainer, "--config", dir / "c.yaml"}).exit_code, 0);
  fs::remove(dir / "run/DONE");
  const std::string tensors = dir / "run/checkpoints/step_00000020/tensors.pt";
  fs::resize_file(tensors, fs::file_size(tensors) / 2);
  auto r = run_process({kTrainer, "--config", dir / "c.yaml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("step_00000020/tensors.pt"), std::string::npos) << r.output;
}

TEST(Cli, BadInputWritesNothingAndDryRunWritesNothing) {
  TempDir dir;
  write_text(dir / "bad.yaml", small_config(dir.path(), 5) + "model_typo: 1\n");
  auto r = run_process({kTrainer, "--config", dir / "bad.yaml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("unknown key 'model_typo'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "run"));

  write_text(dir / "ok.yaml", small_config(dir.path(), 5));
  r = run_process({kTrainer, "--config", dir / "ok.yaml", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("non-embedding"), std::string::npos);
  EXPECT_NE(r.output.find("M=72Ld^2+12LdT"), std::string::npos);
  EXPECT_NE(r.output.find("memory estimate"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "run"));

  EXPECT_EQ(run_process({kTrainer, "--bogus"}).exit_code, 2);
  // Bad flag values are usage errors that name the flag.
  r = run_process({kTrainer, "sample", "--run", dir / "run", "--num", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--num: expected an integer >= 1, got 'x'"), std::string::npos)
      << r.output;
  r = run_process({kTrainer, "prepare", "--input", dir / "ok.yaml", "--val-fraction", "zz"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--val-fraction: expected a number"), std::string::npos) << r.output;
  EXPECT_EQ(run_process({kTrainer, "sample", "--run"}).exit_code, 2);
  EXPECT_EQ(run_process({kTrainer, "--help"}).exit_code, 0);
}

// The command line is CLI11's (util/cli.h): a `train` subcommand beside the
// bare form, help generated per subcommand from the option definitions, and
// options refused where they do not apply, all with exit code 2.
TEST(Cli, SubcommandsGeneratedHelpAndOptionsWhereTheyApply) {
  TempDir dir;
  write_text(dir / "ok.yaml", small_config(dir.path(), 5));
  // `train` is the bare form; `--opt=value` and `--opt value` both work, a
  // repeated --config keeps the last one (as the hand-written parser did),
  // and --set repeats.
  auto r = run_process({kTrainer, "train", "--config=" + (dir / "missing.yaml"), "--config",
                        dir / "ok.yaml", "--set=train.steps=7", "--set", "model.d_model=64",
                        "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("d_model: 64"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("steps: 7"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "run"));

  r = run_process({kTrainer, "sample", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("--sampler TEXT:{ancestral,adaptive}"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("--config"), std::string::npos) << r.output;  // sample's own options
  r = run_process({kTrainer, "--help"});
  EXPECT_NE(r.output.find("Sweep files:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--claim-next"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("--sweep-hash"), std::string::npos) << r.output;  // internal

  for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--config", dir / "ok.yaml", "--set", "a=1", "b=2"}, "not expected: b=2"},
           {{"--config", dir / "ok.yaml", "--list"}, "--list applies to sweep files"},
           {{"--config", dir / "ok.yaml", "sample", "--run", dir / "run"},
            "--config is not an option of `trainer sample`"},
           {{"sample", "--run", dir / "run", "--sampler", "greedy"}, "--sampler"},
           {{"--config", dir / "ok.yaml", "--nproc-per-node", "0"},
            "--nproc-per-node: expected an integer in [1, 1024], got '0'"},
           {{"export", "--run", dir / "run"}, "--out is required"}}) {
    std::vector<std::string> command = {kTrainer};
    command.insert(command.end(), args.begin(), args.end());
    r = run_process(command);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << message << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(dir / "run"));
}

TEST(Cli, PrepareThenTrainOnShards) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 400; ++i) text += "the cat sat on the mat. ";
  write_text(dir / "corpus.txt", text);
  auto r = run_process({kTrainer, "prepare", "--input", dir / "corpus.txt", "--out", dir / "shards",
                        "--val-fraction", "0.1"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  write_text(dir / "c.yaml",
             "name: shards\nout_dir: " + dir.path() +
                 "\nmodel:\n  layers: 1\n  d_model: 32\n  heads: 2\n  context: 32\n"
                 "  vocab: 256\ndata:\n  source: tokens\n  path: " +
                 (dir / "shards/train_*.bin") + "\n  val_path: " + (dir / "shards/val_*.bin") +
                 "\noptim:\n  lr: 1e-2\ntrain:\n  batch_size: 8\n  steps: 100\n  eval_every: 0\n");
  r = run_process({kTrainer, "--config", dir / "c.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto s = nlohmann::json::parse(read_text(dir / "shards/summary.json"));
  EXPECT_LT(s.at("final_val_loss").get<double>(), 2.0);  // uniform over 256 bytes is 5.55
  // meta.json beside the shards: what they hold and the bytes behind them;
  // the trainer reads bits per byte off it (byte tokens: 1 token per byte, so
  // bpb = nats / ln 2).
  const auto meta = nlohmann::json::parse(read_text(dir / "shards/meta.json"));
  EXPECT_EQ(meta.at("vocab"), 256);
  EXPECT_EQ(meta.at("bytes").get<int64_t>(), static_cast<int64_t>(text.size()));
  EXPECT_EQ(meta.at("tokens").get<int64_t>(), static_cast<int64_t>(text.size()));
  EXPECT_NEAR(s.at("final_val_bpb").get<double>(),
              s.at("final_val_loss").get<double>() / std::log(2.0), 1e-12);
  EXPECT_EQ(s.at("nll_to_bpb").at("source"), dir / "shards/meta.json");
  // A factor given in the config wins (the paper's data: 0.34124), and off
  // turns it off.
  r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "name=given", "--set",
                   "data.nll_to_bpb=0.34124", "--set", "train.steps=10"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  s = nlohmann::json::parse(read_text(dir / "given/summary.json"));
  EXPECT_NEAR(s.at("final_val_bpb").get<double>(), 0.34124 * s.at("final_val_loss").get<double>(),
              1e-12);
  r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "name=off", "--set",
                   "data.nll_to_bpb=off", "--set", "train.steps=10"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(
      nlohmann::json::parse(read_text(dir / "off/summary.json")).contains("final_val_bpb"));
  r = run_process(
      {kTrainer, "--config", dir / "c.yaml", "--set", "data.nll_to_bpb=lots", "--dry-run"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("data.nll_to_bpb: must be auto, off or a number > 0"), std::string::npos)
      << r.output;
}

// objective.mask_id: the tokenizer's own mask token (here byte 255, which
// ASCII text never holds) makes the model's vocabulary the data's 256 ids
// (one embedding row fewer than a mask one past them), and a mask id that
// the data does hold is refused, naming the file and position.
TEST(Cli, TheTokenizersOwnMaskIdTrainsAndIsRefusedWhereTheDataHoldsIt) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 200; ++i) text += "the cat sat on the mat. ";
  write_text(dir / "corpus.txt", text);
  ASSERT_EQ(run_process({kTrainer, "prepare", "--input", dir / "corpus.txt", "--out",
                         dir / "shards", "--val-fraction", "0.1"})
                .exit_code,
            0);
  write_text(dir / "c.yaml", "name: masked\nout_dir: " + dir.path() +
                                 "\nmodel:\n  layers: 1\n  d_model: 32\n  heads: 2\n  context: 32\n"
                                 "  vocab: 256\nobjective:\n  kind: diffusion\n  mask_id: 255\n"
                                 "data:\n  source: tokens\n  path: " +
                                 (dir / "shards/train_*.bin") +
                                 "\n  val_path: " + (dir / "shards/val_*.bin") +
                                 "\ntrain:\n  batch_size: 8\n  steps: 4\n  eval_every: 0\n");
  auto r = run_process({kTrainer, "--config", dir / "c.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto s = nlohmann::json::parse(read_text(dir / "masked/summary.json"));
  EXPECT_EQ(s.at("mask_id"), 255) << s.dump(1);
  const auto own = s.at("params").at("embedding").get<int64_t>();
  r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "name=extra", "--set",
                   "objective.mask_id=-1"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  s = nlohmann::json::parse(read_text(dir / "extra/summary.json"));
  EXPECT_EQ(s.at("params").at("embedding").get<int64_t>() - own, 32);  // one row of d_model

  r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "name=clash", "--set",
                   "objective.mask_id=97"});  // 'a'
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("train_000000.bin: token 97 at position 5: the data holds "
                          "objective.mask_id"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir / "clash"));
  // Generated data draws every id below its vocabulary.
  r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "data.source=zipf_markov",
                   "--set", "model.vocab=0", "--set", "objective.mask_id=3", "--dry-run"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("objective.mask_id: 3 is a token of the generated data"),
            std::string::npos)
      << r.output;
  r = run_process(
      {kTrainer, "--config", dir / "c.yaml", "--set", "objective.mask_id=256", "--dry-run"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("objective.mask_id: must be an id inside model.vocab"), std::string::npos)
      << r.output;
}

std::vector<std::vector<uint32_t>> parse_samples(const std::string& output) {
  std::vector<std::vector<uint32_t>> out;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line == "----" || line[0] == '[') continue;
    std::istringstream ids(line);
    std::vector<uint32_t> row;
    uint32_t v;
    while (ids >> v) row.push_back(v);
    out.push_back(row);
  }
  return out;
}

TEST(Diffusion, TinyMaskedModelRespectsTheBoundAndSamplesLikeTheSource) {
  TempDir dir;
  auto summary =
      train_tiny(dir, "diff", "objective:\n  kind: diffusion\n  noise: masked\n", 600, 200);
  EXPECT_EQ(summary.at("loss_kind"), "elbo");
  EXPECT_EQ(summary.at("noise").at("name"), "masked");
  EXPECT_EQ(summary.at("noise").at("mixing_shift"), -1000);
  const double floor = summary.at("optimal_val_loss");
  EXPECT_LT(summary.at("final_val_loss").get<double>(), 1.15 * floor);
  expect_never_below(metrics_of(dir / "diff"), floor, 0.02);
  // The progress line prints the ELBO beside the weighted training loss: the
  // last one shows the last metrics line's ELBO.
  const std::string log = read_text(dir / "diff/log.txt");
  const auto last_line = log.rfind("step 600/600");
  ASSERT_NE(last_line, std::string::npos) << log;
  const auto elbo_at = log.find("(ELBO ", last_line);
  ASSERT_NE(elbo_at, std::string::npos) << log.substr(last_line, 200);
  EXPECT_NEAR(std::stod(log.substr(elbo_at + 6)),
              metrics_of(dir / "diff").back().at("train_metric_mean").get<double>(), 1e-4);

  // Samples carry the source's sequential structure: under the true HMM they
  // are far more likely than the same source's tokens shuffled (its marginal
  // without its structure).
  const SyntheticHmm hmm(16, 32, 0.02, 1234);  // the defaults of data.synthetic
  auto stream = hmm.sample(64 * 64, 99);
  std::mt19937 rng(7);
  std::shuffle(stream.begin(), stream.end(), rng);
  double shuffled = 0;
  for (int w = 0; w < 64; ++w) shuffled += hmm.window_nll(stream.data() + 64 * w, 64, 0) / 64 / 64;
  for (const char* sampler : {"ancestral", "adaptive"}) {
    auto r = run_process({kTrainer, "sample", "--run", dir / "diff", "--num", "16", "--steps", "64",
                          "--sampler", sampler});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto samples = parse_samples(r.output);
    ASSERT_EQ(samples.size(), 16u);
    double nll = 0;
    for (const auto& s : samples) {
      ASSERT_EQ(s.size(), 64u);
      nll += hmm.window_nll(s.data(), 64, 0) / 64 / samples.size();
    }
    EXPECT_LT(nll, 0.5 * shuffled) << sampler << " shuffled " << shuffled;
  }
}

TEST(Presets, PaperSizesDryRunWithoutDataOrAllocation) {
  // Counted: L·(12d² + 11d) + d non-embedding parameters for the backbone of
  // model.md (q,k,v,o 4d², MLP 8d² + 5d, two norms, QK-norm gains, sink).
  // Labelled: model.md's size table, L·(12d² + 14d): 25.2M … 566.7M.
  struct Preset {
    std::string name, counted, paper_label;
  };
  const std::vector<Preset> presets = {
      {"L8-D512", "non-embedding 25.2M (25211392)", "14d): 25.2M (25223168"},
      {"L10-D640", "non-embedding 49.2M (49223040)", "14d): 49.2M (49241600"},
      {"L12-D768", "non-embedding 85.0M (85036800)", "14d): 85.1M (85063680"},
      {"L16-D1024", "non-embedding 201.5M (201507840)", "14d): 201.6M (201555968"},
      {"L20-D1536", "non-embedding 566.6M (566570496)", "14d): 566.7M (566661120"},
      {"3B", "non-embedding 2.04B (2039043072)", "14d): 2.04B"},
      {"3B-uniform", "non-embedding 2.15B (2152323072)", "14d): 2.15B"},
      {"10B", "non-embedding 8.67B", "14d): 8.67B"}};
  for (const auto& p : presets) {
    auto r = run_process({kTrainer, "--config",
                          std::string(SCALEBED_SOURCE_DIR) + "/configs/paper/" + p.name + ".yaml",
                          "--dry-run"});
    EXPECT_EQ(r.exit_code, 0) << p.name << r.output;
    EXPECT_NE(r.output.find(p.counted), std::string::npos) << p.name << "\n" << r.output;
    EXPECT_NE(
        r.output.find("as model.md's size table labels this shape, L*(12d^2 + " + p.paper_label),
        std::string::npos)
        << p.name << "\n"
        << r.output;
    EXPECT_NE(r.output.find("NOT OPENED"), std::string::npos) << p.name;  // no data needed
    EXPECT_NE(r.output.find("hidden: init std"), std::string::npos) << p.name;
  }
}

// --dry-run says what fits on 80 GB and 141 GB cards, and says plainly when
// nothing does (10B on one rank: fp32 weights, gradients and LaProp state
// alone exceed either card); with --world-size 8 the 10B preset (ZeRO-2,
// activation checkpointing, the paper's batch of 3072) fits 8 x 80 GB, and
// the dry run names the fewest ranks each shard mode needs (unsharded: none).
// L12-D768 in bf16 at the paper's batch of 128 with micro-batch 8 needs at
// least 4x less activation memory than the 74.7 GiB that the explicit
// attention, whole logits and fp32 of before needed.
TEST(Presets, PaperDryRunSaysWhatFitsOnEachCard) {
  const std::string dir = std::string(SCALEBED_SOURCE_DIR) + "/configs/paper/";
  const std::string card80 = "on 80 GB cards (79.6 GiB), budget 71.6 GiB per rank: ",
                    card141 = "on 141 GB cards (140.4 GiB), budget 126.4 GiB per rank: ";
  for (const std::string preset : {"L8-D512", "L12-D768", "L20-D1536", "3B", "3B-uniform"}) {
    auto r = run_process({kTrainer, "--config", dir + preset + ".yaml", "--dry-run"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("precision: bf16"), std::string::npos) << preset;
    for (const std::string card : {card80, card141}) {
      EXPECT_NE(r.output.find(card + "micro-batch "), std::string::npos) << preset << "\n"
                                                                         << r.output;
    }
  }
  auto r = run_process({kTrainer, "--config", dir + "10B.yaml", "--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(card80 + "nothing fits"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(card141 + "nothing fits"), std::string::npos);
  EXPECT_NE(r.output.find("fewest ranks that fit: shard none: none up to 3072 ranks"),
            std::string::npos);
  EXPECT_NE(r.output.find("M*D 1.019e+22"), std::string::npos) << r.output;  // the paper's 1.02e22
  // The 3B runs at the paper's batch of 1536 and step counts: about 1e21 FLOPs.
  for (const auto& [preset, flops] : {std::pair<std::string, std::string>{"3B", "M*D 1.005e+21"},
                                      {"3B-uniform", "M*D 1.015e+21"}}) {
    auto p = run_process({kTrainer, "--config", dir + preset + ".yaml", "--dry-run"});
    EXPECT_NE(p.output.find("1536 sequences"), std::string::npos) << p.output;
    EXPECT_NE(p.output.find(flops), std::string::npos) << p.output;
  }

  r = run_process({kTrainer, "--config", dir + "10B.yaml", "--dry-run", "--world-size", "8"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("memory estimate (bf16, micro-batch 1, per rank of 8, shard gradients)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(card80 + "micro-batch "), std::string::npos) << r.output;
  // The same plan unsharded: nothing fits.
  r = run_process({kTrainer, "--config", dir + "10B.yaml", "--dry-run", "--world-size", "8",
                   "--set", "distributed.shard=none"});
  EXPECT_NE(r.output.find(card80 + "nothing fits"), std::string::npos) << r.output;
  // --world-size only plans.
  r = run_process({kTrainer, "--config", dir + "10B.yaml", "--world-size", "8"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--world-size plans a --dry-run"), std::string::npos) << r.output;

  r = run_process(
      {kTrainer, "--config", dir + "L12-D768.yaml", "--dry-run", "--set", "train.micro_batch=8"});
  const auto at = r.output.find("memory estimate (bf16, micro-batch 8):");
  ASSERT_NE(at, std::string::npos) << r.output;
  const auto act = r.output.find("activations ", at);
  ASSERT_NE(act, std::string::npos);
  const double gib = std::stod(r.output.substr(act + 12));
  EXPECT_LE(gib, 74.7 / 4) << r.output.substr(at, 200);
}

}  // namespace
}  // namespace scalebed
