// Sweep scheduler units (no LibTorch, no training): the expression language,
// grid/zip/derive/exclude expansion against hand-counted points, hash
// stability, bad sweep files named by key and line, locks, and the sbatch
// script (bash -n, array range, signal and requeue lines), and the run-time
// model behind a local sweep's ETA against known per-step and per-FLOP costs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <map>
#include <set>

#include "sweep/eta.h"
#include "sweep/expression.h"
#include "sweep/registry.h"
#include "sweep/runner.h"
#include "sweep/slurm.h"
#include "sweep/sweep.h"
#include "test_util.h"
#include "util/error.h"

namespace scalebed {
namespace {

using testing::TempDir;
using testing::write_text;

double eval(const std::string& source, const std::map<std::string, ExprValue>& names = {}) {
  return Expression(source)
      .evaluate([&](const std::string& n) -> std::optional<ExprValue> {
        auto it = names.find(n);
        if (it == names.end()) return std::nullopt;
        return it->second;
      })
      .number;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Expression, ArithmeticPrecedenceAndFunctionsMatchHandComputedValues) {
  EXPECT_DOUBLE_EQ(eval("1 + 2 * 3"), 7);
  EXPECT_DOUBLE_EQ(eval("(1 + 2) * 3"), 9);
  EXPECT_DOUBLE_EQ(eval("2 ^ 3 ^ 2"), 512);  // right-associative
  EXPECT_DOUBLE_EQ(eval("-2 ^ 2"), -4);
  EXPECT_DOUBLE_EQ(eval("7 % 4"), 3);
  EXPECT_DOUBLE_EQ(eval("3e12 / 1e6"), 3e6);
  EXPECT_DOUBLE_EQ(eval("floor(7.9) + ceil(0.1) + round(2.5)"), 7 + 1 + 3);
  EXPECT_DOUBLE_EQ(eval("min(4, 2, 9) * max(1, 5)"), 10);
  EXPECT_DOUBLE_EQ(eval("round_to(1000, 64)"), 1024);
  EXPECT_DOUBLE_EQ(eval("floor_to(1000, 64)"), 960);
  EXPECT_DOUBLE_EQ(eval("round_pow2(90)"), 64);
  EXPECT_DOUBLE_EQ(eval("round_pow2(100)"), 128);
  EXPECT_NEAR(eval("10^-2.4 * 1e9^0.8225"), std::pow(10, -2.4) * std::pow(1e9, 0.8225), 1e-6);
  EXPECT_DOUBLE_EQ(eval("log2(1024) + log10(1000) + sqrt(16)"), 17);
  EXPECT_DOUBLE_EQ(eval("budget / model.d_model",
                        {{"budget", ExprValue::of(640)}, {"model.d_model", ExprValue::of(64)}}),
                   10);
  EXPECT_DOUBLE_EQ(eval("if(kind == \"ar\", 1, 2)", {{"kind", ExprValue::of(std::string("ar"))}}),
                   1);
  EXPECT_DOUBLE_EQ(eval("x >= 3 && x < 5 || !1", {{"x", ExprValue::of(4)}}), 1);
  EXPECT_DOUBLE_EQ(eval("x != 4", {{"x", ExprValue::of(4)}}), 0);
  EXPECT_EQ(Expression("a * b.c + max(d)").names(), (std::set<std::string>{"a", "b.c", "d"}));
}

TEST(Expression, ErrorsNameTheProblemAndColumn) {
  EXPECT_NE(error_of([] { Expression("1 + * 2"); }).find("column 5"), std::string::npos);
  EXPECT_NE(error_of([] { Expression("(1 + 2"); }).find("expected ')'"), std::string::npos);
  EXPECT_NE(error_of([] { Expression("foo(1)"); }).find("unknown function 'foo'"),
            std::string::npos);
  EXPECT_NE(error_of([] { Expression("pow(1)"); }).find("takes 2"), std::string::npos);
  EXPECT_NE(error_of([] { eval("1 / (2 - 2)"); }).find("division by zero"), std::string::npos);
  EXPECT_NE(error_of([] { eval("bugdet * 2"); }).find("unknown name 'bugdet'"), std::string::npos);
  EXPECT_NE(error_of([] {
              eval("x + 1", {{"x", ExprValue::of(std::string("ar"))}});
            }).find("'ar' is not a number"),
            std::string::npos);
}

// Found by tests/fuzz/fuzz_expression: 1,500 nested parentheses overflowed the
// parser's stack. Every kind of depth (parentheses, operator chains, unary
// chains) is now an error past 500 elements; an expression of ordinary size
// is untouched.
TEST(Expression, PathologicalSizesAreErrorsNotCrashes) {
  const int n = 100000;
  auto repeat = [&](const std::string& part) {
    std::string out;
    for (int i = 0; i < n; ++i) out += part;
    return out;
  };
  for (const std::string& source : {repeat("(") + "1" + repeat(")"), repeat("-") + "1",
                                    "1" + repeat("+1"), "2" + repeat("^2")}) {
    EXPECT_NE(error_of([&] { eval(source); }).find("expression too long"), std::string::npos)
        << source.substr(0, 20);
  }
  std::string sum = "1";
  for (int i = 0; i < 99; ++i) sum += " + (1)";  // 100 numbers, 99 operators, 99 parentheses
  EXPECT_DOUBLE_EQ(eval(sum), 100);
}

TEST(Expression, NumbersFormatAsTheShortestExactText) {
  EXPECT_EQ(format_number(3e12), "3000000000000");
  EXPECT_EQ(format_number(0.1), "0.1");
  EXPECT_EQ(format_number(2.5e-9), "2.5e-09");
  EXPECT_EQ(format_number(-7), "-7");
}

// A small run config and a sweep directory around it.
class SweepFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    write_text(dir / "base.yaml",
               "model: {layers: 1, d_model: 32, heads: 2, context: 16}\n"
               "data: {source: synthetic}\n"
               "train: {batch_size: 4, steps: 10}\n");
    write_text(dir / "size_a.yaml", "base: base.yaml\nmodel: {layers: 1, d_model: 32}\n");
    write_text(dir / "size_b.yaml", "base: base.yaml\nmodel: {layers: 2, d_model: 64, heads: 4}\n");
  }
  std::string sweep(const std::string& text) {
    write_text(dir / "sweep.yaml", "base: base.yaml\nout_dir: " + dir.path() + "/runs\n" + text);
    return dir / "sweep.yaml";
  }
  std::vector<SweepPoint> expand(const std::string& text) {
    return expand_sweep(load_sweep(sweep(text)));
  }
  std::string expand_error(const std::string& text) {
    return error_of([&] { expand(text); });
  }
  static std::string value(const SweepPoint& p, const std::string& key) {
    for (const auto& [k, v] : p.values) {
      if (k == key) return v;
    }
    return "(missing)";
  }
  TempDir dir;
};

TEST_F(SweepFiles, GridIsTheCartesianProductFirstKeySlowest) {
  const auto points =
      expand("grid:\n  optim.lr: [1e-3, 2e-3, 4e-3]\n  model.d_model: [32, 64]\n  seed: [0, 1]\n");
  ASSERT_EQ(points.size(), 3u * 2u * 2u);
  EXPECT_EQ(value(points[0], "optim.lr"), "1e-3");
  EXPECT_EQ(value(points[0], "seed"), "0");
  EXPECT_EQ(value(points[1], "seed"), "1");
  EXPECT_EQ(value(points[2], "model.d_model"), "64");
  EXPECT_EQ(value(points[11], "optim.lr"), "4e-3");
  EXPECT_DOUBLE_EQ(points[11].config.optim.lr, 4e-3);
  EXPECT_EQ(points[11].config.model.d_model, 64);
  EXPECT_EQ(points[5].index, 5);
  std::set<std::string> dirs;
  for (const auto& p : points) dirs.insert(p.dir());
  EXPECT_EQ(dirs.size(), points.size());  // every point has its own directory
}

TEST_F(SweepFiles, ZipVariesListsTogetherAndMultipliesWithTheGrid) {
  const auto points = expand(
      "grid:\n  seed: [0, 1]\n"
      "zip:\n  - {train.batch_size: [4, 8, 16], optim.lr: [1e-3, 2e-3, 4e-3]}\n");
  ASSERT_EQ(points.size(), 6u);
  for (const auto& p : points) {
    EXPECT_DOUBLE_EQ(p.config.optim.lr, 1e-3 * p.config.train.batch_size / 4);
  }
}

TEST_F(SweepFiles, DeriveComputesFromSweepVariablesConfigAndAccounting) {
  const auto points = expand(
      "grid:\n  preset: [size_a.yaml, size_b.yaml]\n  budget: [1e9, 4e9]\n"
      "config:\n  train.steps: 0\n"
      "derive:\n"
      "  train.tokens: floor_to(budget / flops_per_token_md, train.batch_size * model.context)\n"
      "  optim.lr: 1e-3 * (train.tokens / 1e6) ^ 0.5\n");
  ASSERT_EQ(points.size(), 4u);
  for (const auto& p : points) {
    const double L = p.config.model.layers, d = p.config.model.d_model, T = 16;
    const double m = 72 * L * d * d + 12 * L * d * T;  // M per token, model.md
    const double budget = std::stod(value(p, "budget"));
    const int64_t tokens = static_cast<int64_t>(std::floor(budget / m / 64)) * 64;
    EXPECT_EQ(p.config.train.steps, tokens / 64) << p.name;
    EXPECT_NEAR(p.config.optim.lr, 1e-3 * std::sqrt(tokens / 1e6), 1e-12) << p.name;
  }
  EXPECT_EQ(value(points[0], "preset"), "size_a");
  EXPECT_EQ(points[2].config.model.layers, 2);  // size_b comes from its preset file
  EXPECT_NEAR(points[0].planned_flops_md,
              points[0].config.train.steps * 64 * (72 * 32 * 32 + 12 * 32 * 16), 1);
}

TEST_F(SweepFiles, ExcludeByValuesAndByCondition) {
  const auto points = expand(
      "grid:\n  objective.kind: [ar, diffusion]\n  objective.noise: [masked, uniform]\n"
      "  train.steps: [5, 10, 20]\n"
      "exclude:\n  - {objective.kind: ar, objective.noise: uniform}\n"
      "  - \"train.steps < 10 && objective.kind == 'diffusion'\"\n");
  // 2*2*3 = 12; minus ar+uniform (3); minus diffusion with 5 steps (2) = 7.
  ASSERT_EQ(points.size(), 7u);
  for (const auto& p : points) {
    EXPECT_FALSE(p.config.objective.kind == "ar" && p.config.objective.noise == "uniform");
    EXPECT_FALSE(p.config.objective.kind == "diffusion" && p.config.train.steps < 10);
  }
}

TEST_F(SweepFiles, NamesAreReadableWithAStableHashAndNoTimestamp) {
  const std::string text =
      "run_name: \"{preset}_lr{optim.lr}\"\n"
      "grid:\n  preset: [size_a.yaml, size_b.yaml]\n  optim.lr: [0.001, 0.002]\n";
  const auto a = expand(text);
  const auto b = expand(text);
  ASSERT_EQ(a.size(), 4u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].name, b[i].name);
  EXPECT_EQ(a[0].name.substr(0, 15), "size_a_lr0.001-");
  EXPECT_EQ(a[0].hash.size(), 10u);
  // The hash is of what the run computes: the same config written differently,
  // or a different out_dir/threads, keeps it; a changed value changes it.
  const auto same = expand(
      "config: {threads: 2}\nrun_name: \"{preset}_lr{optim.lr}\"\n"
      "grid:\n  preset: [size_a.yaml, size_b.yaml]\n  optim.lr: [1e-3, 2e-3]\n");
  EXPECT_EQ(same[0].hash, a[0].hash);
  const auto changed = expand(
      "config: {model.context: 32}\nrun_name: \"{preset}_lr{optim.lr}\"\n"
      "grid:\n  preset: [size_a.yaml, size_b.yaml]\n  optim.lr: [1e-3, 2e-3]\n");
  EXPECT_NE(changed[0].hash, a[0].hash);
  // Pinned: a code change that silently renames every existing run directory
  // (so requeued jobs lose their checkpoints) must fail here.
  const auto fixed = expand("grid:\n  optim.lr: [1e-3]\n  seed: [7]\n");
  EXPECT_EQ(fixed[0].hash, config_hash(fixed[0].config));
  EXPECT_EQ(fixed[0].hash, "bf6f297cf5");
  EXPECT_EQ(sweep_hash(a), sweep_hash(b));
  EXPECT_NE(sweep_hash(a), sweep_hash(changed));
}

TEST_F(SweepFiles, BadSweepFilesNameTheKeyAndLine) {
  // (sweep file body, a part of the error it must give); line numbers count
  // the two lines expand_error puts first.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"grid:\n  seed: [0]\nbogus: 1\n", "sweep.yaml:5: unknown sweep key 'bogus'"},
      {"zip:\n  - {seed: [0, 1], optim.lr: [1e-3]}\n", "sweep.yaml:4: zip: optim.lr has 1"},
      {"grid:\n  seed: [0]\nderive:\n  optim.lr: 1e-3 * * 2\n",
       "sweep.yaml:6: derive optim.lr: unexpected '*' at column 8"},
      {"grid:\n  seed: [0]\nderive:\n  optim.lr: bugdet * 2\n",
       "sweep.yaml:6: derive optim.lr at point {seed=0}: unknown name 'bugdet'"},
      {"grid:\n  budget: [100]\nderive:\n  train.steps: budget / 3\n",
       "sweep.yaml:6: derive train.steps = 33.333333333333336 at point {budget=100} is not an "
       "integer"},
      {"grid:\n  optim.lrr: [1, 2]\n", "sweep.yaml:4: 'optim.lrr' is neither"},
      // A value the run config rejects is named at its line in the sweep file.
      {"grid:\n  model.heads: [2, 3]\n",
       "must be divisible by model.heads = 3 (" + dir.path() + "/sweep.yaml:4 (model.heads))"},
      {"grid:\n  seed: [1, 1]\n", "are the same run"},
      {"grid:\n  preset: [nope.yaml]\n", "sweep.yaml:4: preset: file not found"},
      {"grid:\n  seed: [0]\n  seed.x: [[1]]\n", "values must be single values"},
      {"grid:\n  seed: [0]\nexclude:\n  - \"seed >\"\n", "sweep.yaml:6: exclude:"},
      {"grid:\n  seed: [0]\nexclude:\n  - \"seed >= 0\"\n", "every point is excluded"},
      // Counts must be whole numbers an int holds (found by fuzz_sweep_file:
      // 2e110 was converted to int, undefined behaviour; 2.5 was truncated).
      {"grid:\n  seed: [0]\nscheduler: {jobs: 2e110}\n",
       "sweep.yaml:5: scheduler.jobs: expected a whole number >= 0, got '2e110'"},
      {"grid:\n  seed: [0]\nslurm: {max_parallel: 2.5}\n",
       "slurm.max_parallel: expected a whole number"},
      // Keys that are not names (found by fuzz_sweep_file): yaml-cpp's "bad
      // conversion" escaped without the file's name.
      {"grid:\n  seed: [0]\n? :\n", "sweep.yaml:5: expected a key name here, got a mapping"},
      {"grid:\n  ? [a, b]\n  : [0]\n", "sweep.yaml:4: expected a key name here, got a list"},
  };
  for (const auto& [body, expected] : cases) {
    const std::string error = expand_error(body);
    EXPECT_NE(error.find(expected), std::string::npos) << body << "\ngave: " << error;
  }
}

TEST_F(SweepFiles, TheSweepFilesInTheRepositoryExpand) {
  const std::string sweeps = std::string(SCALEBED_SOURCE_DIR) + "/sweeps/";
  // quickstart: 7 sizes for each of ar, masked and uniform, one constant-LR run
  // each on the Zipf-Markov source (the analysis reads budgets off the curves).
  const auto quickstart = expand_sweep(load_sweep(sweeps + "quickstart.yaml"));
  EXPECT_EQ(quickstart.size(), 21u);
  std::map<std::string, std::set<int64_t>> sizes;
  for (const auto& p : quickstart) {
    EXPECT_EQ(p.config.data.source, "zipf_markov");
    EXPECT_EQ(p.config.schedule.kind, "constant");
    EXPECT_GT(p.config.train.steps, 100);
    sizes[p.config.objective.kind + "-" + p.config.objective.noise].insert(
        p.config.model.d_model * 100 + p.config.model.layers);
  }
  EXPECT_EQ(sizes.size(), 3u);
  for (const auto& [objective, s] : sizes) EXPECT_EQ(s.size(), 7u) << objective;
  // paper: 5 noises x 5 sizes x 22 (batch, LR) pairs; AR: 5 sizes x 22
  const auto diffusion = expand_sweep(load_sweep(sweeps + "sweep_diffusion.yaml"));
  EXPECT_EQ(diffusion.size(), 550u);
  std::set<std::string> noises;
  for (const auto& p : diffusion) {
    noises.insert(p.config.objective.noise);
    EXPECT_LE(p.config.train.steps, 80000);
    EXPECT_EQ(p.config.parameterization.kind, "completep");
  }
  EXPECT_EQ(noises.size(), 5u);
  // The released schedule (check_runs.ipynb, cell 5): 5 noises x (4 sizes x
  // 20 (batch, LR) pairs + L20 x 22, batch 1024 only at L20); 80k steps, 40k
  // at batch 512 below L20 and at batch 1024.
  const auto released = expand_sweep(load_sweep(sweeps + "sweep_diffusion_released.yaml"));
  EXPECT_EQ(released.size(), 510u);
  for (const auto& p : released) {
    const auto& c = p.config;
    EXPECT_EQ(c.train.steps,
              c.train.batch_size == 1024 || (c.train.batch_size == 512 && c.model.layers < 20)
                  ? 40000
                  : 80000)
        << p.name;
    EXPECT_TRUE(c.train.batch_size < 1024 || c.model.layers == 20) << p.name;
  }
  const auto ar = expand_sweep(load_sweep(sweeps + "sweep_ar.yaml"));
  EXPECT_EQ(ar.size(), 110u);
  for (const auto& p : ar) EXPECT_EQ(p.config.objective.kind, "ar");
  // CPU noise scaling: 5 sizes x 3 budgets x (masked, uniform), all diffusion
  const auto cpu = expand_sweep(load_sweep(sweeps + "cpu_noise_scaling.yaml"));
  EXPECT_EQ(cpu.size(), 30u);
  for (const auto& p : cpu) EXPECT_EQ(p.config.objective.kind, "diffusion");
  // CPU batch scaling: 5 batches x 4 LRs x 3 lengths of one model; every run
  // validated on the same 256 windows and logged about 500 times (every step
  // when shorter).
  const auto batch = expand_sweep(load_sweep(sweeps + "cpu_batch_scaling.yaml"));
  EXPECT_EQ(batch.size(), 60u);
  for (const auto& p : batch) {
    EXPECT_EQ(p.config.train.eval_rows(), 256);
    EXPECT_EQ(p.config.train.log_every, std::max<int64_t>(1, p.config.train.steps / 500));
  }
}

TEST_F(SweepFiles, LocksAreExclusiveAndStaleOrDeadOnesAreTakenOver) {
  const auto spec =
      load_sweep(sweep("grid:\n  seed: [0]\nscheduler: {heartbeat_s: 0.2, stale_after_s: 1}\n"));
  const auto points = expand_sweep(spec);
  std::string holder;
  {
    auto first = PointLock::try_acquire(spec, points[0]);
    ASSERT_TRUE(first);
    EXPECT_FALSE(PointLock::try_acquire(spec, points[0], &holder));
    EXPECT_NE(holder.find(hostname()), std::string::npos);
    EXPECT_EQ(point_status(spec, points[0]).state, PointState::kRunning);
    // The heartbeat keeps it live well past stale_after_s.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_FALSE(PointLock::try_acquire(spec, points[0]));
  }
  EXPECT_EQ(point_status(spec, points[0]).state, PointState::kPending);  // released
  const std::string lock = spec.out_dir + "/.sweep/locks/" + points[0].name + ".lock";
  // A lock of a process that no longer exists on this host is free at once.
  write_text(lock, "{\"host\": \"" + hostname() + "\", \"pid\": 999999999, \"nonce\": \"x\"}\n");
  EXPECT_TRUE(PointLock::try_acquire(spec, points[0]));
  // Another host's lock is live until its heartbeat is stale_after_s old.
  write_text(lock, "{\"host\": \"elsewhere\", \"pid\": 1, \"nonce\": \"y\"}\n");
  EXPECT_FALSE(PointLock::try_acquire(spec, points[0]));
  timespec old[2] = {{::time(nullptr) - 5, 0}, {::time(nullptr) - 5, 0}};
  ::utimensat(AT_FDCWD, lock.c_str(), old, 0);
  EXPECT_TRUE(PointLock::try_acquire(spec, points[0]));
}

TEST_F(SweepFiles, StatusReadsDoneAndFailedFromTheRunDirectory) {
  const auto spec = load_sweep(sweep("grid:\n  seed: [0, 1, 2]\n"));
  const auto points = expand_sweep(spec);
  write_text(points[0].dir() + "/DONE", "");
  mark_failed(points[1], "data.path: no such file");
  EXPECT_EQ(point_status(spec, points[0]).state, PointState::kDone);
  EXPECT_EQ(point_status(spec, points[1]).state, PointState::kFailed);
  EXPECT_EQ(point_status(spec, points[1]).detail, "data.path: no such file");
  EXPECT_EQ(point_status(spec, points[2]).state, PointState::kPending);
}

TEST_F(SweepFiles, SbatchScriptParsesAndHasArraySignalAndRequeue) {
  const auto spec = load_sweep(
      sweep("grid:\n  seed: [0, 1, 2, 3, 4]\n"
            "slurm: {partition: gpu, time: \"02:00:00\", gpus_per_task: 1, signal_s: 120,\n"
            "        setup: [\"module load cuda\"], extra_sbatch: [\"--exclusive\"]}\n"));
  const auto points = expand_sweep(spec);
  SlurmJob job;
  job.trainer = "/opt/scalebed/bin/trainer";
  job.sweep_file = dir / "sweep.yaml";
  job.workdir = dir.path();
  job.indices = {0, 1, 2, 3, 4};
  job.max_parallel = 2;
  job.sweep_hash = sweep_hash(points);
  const std::string script = sbatch_script(spec, job);
  write_text(dir / "job.sbatch", script);
  const auto bash = testing::run_process({"/bin/bash", "-n", dir / "job.sbatch"});
  EXPECT_EQ(bash.exit_code, 0) << bash.output << script;
  EXPECT_NE(script.find("\n#SBATCH --array=0-4%2\n"), std::string::npos) << script;
  EXPECT_NE(script.find("\n#SBATCH --signal=B:USR1@120\n"), std::string::npos);
  EXPECT_NE(script.find("\n#SBATCH --requeue\n"), std::string::npos);
  EXPECT_NE(script.find("/.sweep/slurm/%A_%a.out\n"), std::string::npos);
  EXPECT_NE(script.find("\n#SBATCH --partition=gpu\n"), std::string::npos);
  EXPECT_NE(script.find("\n#SBATCH --gres=gpu:1\n"), std::string::npos);
  EXPECT_NE(script.find("\n#SBATCH --exclusive\n"), std::string::npos);
  EXPECT_NE(script.find("\nmodule load cuda\n"), std::string::npos);
  EXPECT_NE(script.find("--index \"$SLURM_ARRAY_TASK_ID\""), std::string::npos);
  EXPECT_NE(script.find("--sweep-hash " + job.sweep_hash), std::string::npos);
  EXPECT_NE(script.find("kill -USR1 \"$child\""), std::string::npos);
  EXPECT_NE(script.find("if [ \"$rc\" -eq 75 ]; then\n  # Stopped"), std::string::npos);
  EXPECT_NE(script.find("scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\""),
            std::string::npos);

  // Left open, the request follows the points: CPU points ask for no GPU and
  // for their threads (1 when unset), GPU points for a GPU and 8 CPUs.
  auto open = load_sweep(sweep("grid:\n  seed: [0, 1]\n"));
  SlurmJob cpu_job = job;
  const std::string cpu_script = sbatch_script(open, cpu_job);
  EXPECT_EQ(cpu_script.find("--gres"), std::string::npos) << cpu_script;
  EXPECT_NE(cpu_script.find("\n#SBATCH --cpus-per-task=1\n"), std::string::npos) << cpu_script;
  cpu_job.threads = 4;
  EXPECT_NE(sbatch_script(open, cpu_job).find("\n#SBATCH --cpus-per-task=4\n"), std::string::npos);
  SlurmJob gpu_job = job;
  gpu_job.uses_gpu = true;
  const std::string gpu_script = sbatch_script(open, gpu_job);
  EXPECT_NE(gpu_script.find("\n#SBATCH --gres=gpu:1\n"), std::string::npos) << gpu_script;
  EXPECT_NE(gpu_script.find("\n#SBATCH --cpus-per-task=8\n"), std::string::npos);

  // Paths with spaces are quoted on #SBATCH lines, and the script still parses.
  SlurmJob spaced = job;
  spaced.workdir = dir / "my runs";
  const std::string spaced_script = sbatch_script(open, spaced);
  EXPECT_NE(spaced_script.find("\n#SBATCH --chdir=\"" + (dir / "my runs") + "\"\n"),
            std::string::npos)
      << spaced_script;
  write_text(dir / "spaced.sbatch", spaced_script);
  EXPECT_EQ(testing::run_process({"/bin/bash", "-n", dir / "spaced.sbatch"}).exit_code, 0);

  // A point on several GPUs asks for them all on its task's node.
  auto multi = load_sweep(sweep("grid:\n  seed: [0, 1]\nscheduler: {gpus_per_run: 4}\n"));
  SlurmJob multi_job = job;
  multi_job.uses_gpu = true;
  const std::string multi_script = sbatch_script(multi, multi_job);
  EXPECT_NE(multi_script.find("\n#SBATCH --gres=gpu:4\n"), std::string::npos);
  EXPECT_NE(multi_script.find("\n#SBATCH --ntasks=4\n"), std::string::npos);  // srun's tasks
  EXPECT_NE(multi_script.find("\n#SBATCH --nodes=1\n"), std::string::npos);

  job.indices = {1, 2, 4};
  job.max_parallel = 0;
  EXPECT_NE(sbatch_script(spec, job).find("\n#SBATCH --array=1-2,4\n"), std::string::npos);
  job.claim_workers = 3;
  const std::string claim = sbatch_script(spec, job);
  EXPECT_NE(claim.find("\n#SBATCH --array=0-2\n"), std::string::npos);
  EXPECT_NE(claim.find(" --claim-next"), std::string::npos);
  EXPECT_EQ(claim.find("--index"), std::string::npos);
}

TEST(LocalRuns, EachJobSlotGetsItsOwnGpus) {
  EXPECT_EQ(devices_of_slot(0, 1, 8), "0");
  EXPECT_EQ(devices_of_slot(3, 1, 8), "3");
  EXPECT_EQ(devices_of_slot(1, 2, 8), "2,3");
  EXPECT_EQ(devices_of_slot(3, 2, 8), "6,7");
  EXPECT_EQ(devices_of_slot(0, 4, 8), "0,1,2,3");
}

TEST(Slurm, RangesCompress) {
  EXPECT_EQ(compress_ranges({0, 1, 2, 3}), "0-3");
  EXPECT_EQ(compress_ranges({0, 2, 3, 4, 7, 9, 10}), "0,2-4,7,9-10");
  EXPECT_EQ(compress_ranges({5}), "5");
}

// Runs that cost 10 ms per step plus 3.5 s per 10^11 FLOPs (the order of what
// L2-D64 diffusion runs cost on 2 cores, two at a time): longest first, a batch
// sweep finishes its batch-1 and batch-2 runs (many steps) before the
// batch-16 ones (the same FLOPs in 16x fewer steps).
double known_seconds(const RunCost& r) {
  return 1e-2 * r.steps + 3.5e-11 * r.flops;
}

TEST(SweepEta, RecoversPerStepAndPerFlopCostsFromFinishedPoints) {
  RunTimeModel model;
  EXPECT_FALSE(model.ready());
  const std::vector<RunCost> done = {{32768, 1.4e12}, {16384, 1.4e12}, {8192, 3.6e11}};
  for (const auto& r : done) model.add_finished(r, known_seconds(r));
  EXPECT_NEAR(model.per_step(), 1e-2, 1e-9);
  EXPECT_NEAR(model.per_flop(), 3.5e-11, 1e-18);
  const RunCost batch16{2048, 1.4e12};
  EXPECT_NEAR(model.predict(batch16), known_seconds(batch16), 1e-6);
  // What a FLOPs-only rate from the same points predicts: over twice as long.
  double t = 0, f = 0;
  for (const auto& r : done) t += known_seconds(r), f += r.flops;
  EXPECT_GT(t / f * batch16.flops / known_seconds(batch16), 2.0);
}

TEST(SweepEta, OnePointOrProportionalPointsPutAllTimeOnFlops) {
  RunTimeModel one;
  one.add_finished({1000, 1e12}, 50);
  EXPECT_DOUBLE_EQ(one.predict({4000, 2e12}), 100);  // twice the FLOPs, twice the time
  RunTimeModel proportional;  // steps and FLOPs in one ratio: nothing tells them apart
  proportional.add_finished({1000, 1e12}, 50);
  proportional.add_finished({2000, 2e12}, 100);
  EXPECT_EQ(proportional.per_step(), 0);
  EXPECT_DOUBLE_EQ(proportional.predict({500, 5e11}), 25);
}

TEST(SweepEta, CostsNeverGoNegative) {
  // Times that grow with steps alone, with FLOPs that run against them: the
  // unconstrained fit gives FLOPs a negative cost.
  RunTimeModel model;
  model.add_finished({1000, 3e12}, 10);
  model.add_finished({2000, 1e12}, 20);
  model.add_finished({4000, 2e12}, 40);
  EXPECT_GE(model.per_flop(), 0);
  EXPECT_GT(model.per_step(), 0);
  EXPECT_NEAR(model.predict({3000, 5e12}), 30, 1e-9);
}

TEST(SweepEta, TimeLeftCountsQueuedAndUnfinishedRunningPointsOverTheSlots) {
  RunTimeModel model;
  model.add_finished({1000, 0}, 10);  // 10 ms per step
  model.add_finished({1000, 1e10}, 11);
  // Queued: 10 s + 20 s; running: 10 s predicted, 4 s done (6 left), and one
  // already past its prediction (0 left, not negative); two slots.
  const double left =
      sweep_seconds_left(model, {{1000, 0}, {2000, 0}}, {{{1000, 0}, 4.0}, {{1000, 0}, 30.0}}, 2);
  EXPECT_NEAR(left, (10 + 20 + 6 + 0) / 2.0, 1e-9);
}

}  // namespace
}  // namespace scalebed
