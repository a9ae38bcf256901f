// Faults around the trainer's core, each against what README's "Resuming,
// signals, failures" promises: a second trainer on a run directory in use;
// a finished run resumed without DONE (its checkpoint is not rewritten); a
// flipped byte in each checkpoint file and a metrics.jsonl shorter than a
// checkpoint records (resume falls back to an older checkpoint, never pads);
// temporaries of an interrupted write removed at start. The resumed curves
// are compared with an uninterrupted run's, step for step.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "trainer_process.h"

namespace scalebed {
namespace {
namespace fs = std::filesystem;

// A small run: d=32, T=32, batch 16, a line per step, a checkpoint every 20.
std::string config(const std::string& out_dir, int steps) {
  return "name: run\nout_dir: " + out_dir +
         "\nmodel: {layers: 2, d_model: 32, heads: 2, context: 32}\n"
         "data: {synthetic: {train_tokens: 200000, val_tokens: 8192}}\n"
         "optim: {lr: 3e-3}\n"
         "train: {batch_size: 16, steps: " +
         std::to_string(steps) +
         ", eval_every: 25, eval_batches: 2, log_every: 1, checkpoint_every: 20, "
         "keep_checkpoints: 3}\n";
}

// step, train_loss, grad_norm and val_loss of every line: what must agree
// exactly between a resumed and an uninterrupted run.
std::vector<std::string> curve(const std::string& run_dir) {
  std::vector<std::string> out;
  for (const auto& m : testing::read_jsonl(run_dir + "/metrics.jsonl")) {
    out.push_back(m.at("step").dump() + " " + m.at("train_loss").dump() + " " +
                  m.at("grad_norm").dump() + " " +
                  (m.contains("val_loss") ? m.at("val_loss").dump() : "-"));
  }
  return out;
}

// Trains `steps` steps in `dir`/name and returns the curve.
std::vector<std::string> uninterrupted(const TempDir& dir, const std::string& name, int steps) {
  write_text(dir / (name + ".yaml"), config(dir / name, steps));
  auto r = run_process({kTrainer, "--config", dir / (name + ".yaml")});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return curve(dir / (name + "/run"));
}

// The run's complete checkpoints, oldest first.
std::vector<std::string> checkpoints_of(const std::string& run_dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(run_dir + "/checkpoints")) {
    if (e.path().filename().string().rfind("step_", 0) == 0) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Starts a run of `steps` in `dir`, SIGKILLs it once it has three
// checkpoints, and returns them (oldest first).
std::vector<std::string> killed_run(const TempDir& dir, int steps) {
  write_text(dir / "c.yaml", config(dir.path(), steps));
  const pid_t pid = spawn_process({kTrainer, "--config", dir / "c.yaml"}, dir / "first.log");
  EXPECT_TRUE(wait_until(
      [&] { return fs::exists(dir / "run/checkpoints/step_00000060/state.json"); }, 120));
  kill(pid, SIGKILL);
  wait_process(pid);
  EXPECT_FALSE(fs::exists(dir / "run/DONE")) << "finished before it could be killed";
  return checkpoints_of(dir / "run");
}

void flip_byte(const std::string& path, double where) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  const auto size = static_cast<std::streamoff>(fs::file_size(path));
  const std::streamoff at = static_cast<std::streamoff>(where * static_cast<double>(size));
  f.seekg(at);
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x04);
  f.seekp(at);
  f.write(&c, 1);
}

// A small file system for the full-disk tests: a tmpfs of `size` mounted at
// `path` while this lives (needs root; `mounted()` says whether it could be).
class Tmpfs {
 public:
  Tmpfs(const std::string& path, const std::string& size) : path_(path) {
    fs::create_directories(path);
    mounted_ = mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  bool resize(const std::string& size) {
    return mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0;
  }

 private:
  std::string path_, error_;
  bool mounted_ = false;
};

TEST(Faults, ASecondTrainerOnARunDirectoryInUseChangesNothing) {
  // Two trainers on one directory both trained: one died on a half-deleted
  // checkpoint, the other wrote DONE over ~200 duplicated metrics lines.
  TempDir dir;
  const int steps = 3000;
  write_text(dir / "c.yaml", config(dir.path(), steps));
  const pid_t first = spawn_process({kTrainer, "--config", dir / "c.yaml"}, dir / "first.log");
  ASSERT_TRUE(wait_until([&] { return fs::exists(dir / "run/checkpoints/step_00000020"); }, 120));
  auto second = run_process({kTrainer, "--config", dir / "c.yaml"});
  ASSERT_FALSE(fs::exists(dir / "run/DONE")) << "the first run ended before the second started";
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_NE(
      second.output.find("run directory is in use by pid " + std::to_string(first) + " on host "),
      std::string::npos)
      << second.output;
  ASSERT_EQ(wait_process(first), 0) << read_text(dir / "first.log");
  // Every step once, in order.
  const auto metrics = testing::read_jsonl(dir / "run/metrics.jsonl");
  ASSERT_EQ(metrics.size(), static_cast<size_t>(steps));
  for (int i = 0; i < steps; ++i) EXPECT_EQ(metrics[i].at("step").get<int>(), i + 1);
  // The lock goes with its process: the next trainer may own the directory.
  auto again = run_process({kTrainer, "--config", dir / "c.yaml"});
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("already done"), std::string::npos) << again.output;
}

TEST(Faults, AFinishedRunResumedWithoutDoneKeepsItsCheckpoint) {
  // Re-saving step N deleted the complete step_N before renaming the new
  // copy in: a kill in between trapped every later rerun.
  TempDir dir;
  write_text(dir / "c.yaml", config(dir.path(), 40));
  ASSERT_EQ(run_process({kTrainer, "--config", dir / "c.yaml"}).exit_code, 0);
  fs::remove(dir / "run/DONE");
  const std::string tensors = dir / "run/checkpoints/step_00000040/tensors.pt";
  struct stat before {};
  ASSERT_EQ(stat(tensors.c_str(), &before), 0);
  auto r = run_process({kTrainer, "--config", dir / "c.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  struct stat after {};
  ASSERT_EQ(stat(tensors.c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino) << "the complete checkpoint was written again";
  EXPECT_TRUE(fs::exists(dir / "run/DONE"));
}

TEST(Faults, AFlippedByteInEitherCheckpointFileFallsBackToTheOlderCheckpoint) {
  // Four flipped bytes in tensors.pt resumed silently and changed 400+ values.
  TempDir dir;
  const int steps = 300;
  const auto reference = uninterrupted(dir, "reference", steps);
  for (const std::string file : {"tensors.pt", "state.json"}) {
    SCOPED_TRACE(file);
    TempDir run;
    const auto kept = killed_run(run, steps);
    ASSERT_GE(kept.size(), 2u);
    const std::string newest = kept.back(), older = kept[kept.size() - 2];
    if (file == "tensors.pt") {
      flip_byte(newest + "/" + file, 0.6);
    } else {  // a changed digit that still parses: only the checksum can tell
      std::string state = read_text(newest + "/state.json");
      const size_t at = state.find_first_of("123456789", state.find("\"elapsed_s\""));
      state[at] = state[at] == '9' ? '8' : static_cast<char>(state[at] + 1);
      write_text(newest + "/state.json", state);
    }
    auto r = run_process({kTrainer, "--config", run / "c.yaml"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("not resuming from " + newest), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("CRC32 differs"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("resumed from " + older), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("skipping newer incomplete checkpoints"), std::string::npos);
    EXPECT_EQ(curve(run / "run"), reference);
  }
}

TEST(Faults, AShortMetricsFileIsNeverPaddedAndNoCheckpointIsTrusted) {
  // After a power cut metrics.jsonl can be shorter than a checkpoint records:
  // resume padded it with NUL bytes and finished with DONE.
  TempDir dir;
  const int steps = 300;
  const auto reference = uninterrupted(dir, "reference", steps);
  const auto kept = killed_run(dir, steps);
  ASSERT_GE(kept.size(), 2u);
  // Cut the file to what the oldest checkpoint records: the newer ones lost lines.
  const auto oldest = nlohmann::json::parse(read_text(kept.front() + "/state.json"));
  const std::string metrics = dir / "run/metrics.jsonl";
  write_text(metrics, read_text(metrics).substr(0, oldest.at("metrics_bytes").get<size_t>()));
  auto r = run_process({kTrainer, "--config", dir / "c.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("lines lost after a crash"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("resumed from " + kept.front()), std::string::npos) << r.output;
  EXPECT_EQ(read_text(metrics).find('\0'), std::string::npos);
  EXPECT_EQ(curve(dir / "run"), reference);
}

TEST(Faults, NoCheckpointToResumeFromIsAnErrorThatKeepsTheMetrics) {
  TempDir dir;
  write_text(dir / "c.yaml", config(dir.path(), 30));
  ASSERT_EQ(run_process({kTrainer, "--config", dir / "c.yaml"}).exit_code, 0);
  fs::remove(dir / "run/DONE");
  for (const auto& e : fs::directory_iterator(dir / "run/checkpoints"))
    flip_byte((e.path() / "tensors.pt").string(), 0.5);
  const std::string metrics = read_text(dir / "run/metrics.jsonl");
  auto r = run_process({kTrainer, "--config", dir / "c.yaml"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no checkpoint can be resumed from"), std::string::npos) << r.output;
  EXPECT_EQ(read_text(dir / "run/metrics.jsonl"), metrics);  // not cut back to nothing
}

TEST(Faults, TemporariesOfAnInterruptedWriteAreRemovedAtStart) {
  // INT twice left a 1.3 MB .tmp-step_* forever.
  TempDir dir;
  write_text(dir / "c.yaml", config(dir.path(), 30));
  ASSERT_EQ(run_process({kTrainer, "--config", dir / "c.yaml"}).exit_code, 0);
  fs::remove(dir / "run/DONE");
  fs::create_directories(dir / "run/checkpoints/.tmp-step_00000099");
  write_text(dir / "run/checkpoints/.tmp-step_00000099/tensors.pt", "partial");
  fs::create_directories(dir / "run/checkpoints/.trash-step_00000005");
  write_text(dir / "run/summary.json.tmp.12345", "{\"partial");
  auto r = run_process({kTrainer, "--config", dir / "c.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(dir / "run/checkpoints/.tmp-step_00000099"));
  EXPECT_FALSE(fs::exists(dir / "run/checkpoints/.trash-step_00000005"));
  EXPECT_FALSE(fs::exists(dir / "run/summary.json.tmp.12345"));
  EXPECT_TRUE(fs::exists(dir / "run/checkpoints/step_00000030/state.json"));
}

TEST(Faults, AFullDiskEndsTheRunWithItsOwnErrorAndKeepsTheLastCheckpoint) {
  // Checkpoint writes on a full file system aborted the process (exit 134, a
  // c10::Error from the zip writer's destructor, nothing in log.txt).
  TempDir dir;
  const int steps = 100;
  const auto reference = uninterrupted(dir, "reference", steps);
  const std::string disk = dir / "disk";
  Tmpfs tmpfs(disk, "2m");
  if (!tmpfs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << tmpfs.error();
  // d_model 64: a checkpoint (weights and moments) of about 1.2 MB on a 2 MB disk, so the
  // second one does not fit beside the first.
  std::string c = config(disk, steps);
  c.replace(c.find("d_model: 32"), 11, "d_model: 64");
  write_text(dir / "c.yaml", c);
  auto r = run_process({kTrainer, "--config", dir / "c.yaml"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("No space left on device while writing the checkpoint; the last "
                          "complete checkpoint is kept"),
            std::string::npos)
      << r.output;
  const auto kept = checkpoints_of(disk + "/run");
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(fs::path(kept[0]).filename(), "step_00000020");
  EXPECT_NE(read_text(disk + "/run/log.txt").find("No space left on device"), std::string::npos);
  // With space again the run resumes from that checkpoint and ends as an
  // uninterrupted one (of the same shape) would.
  ASSERT_TRUE(tmpfs.resize("16m"));
  r = run_process({kTrainer, "--config", dir / "c.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from " + kept[0]), std::string::npos) << r.output;
  write_text(dir / "ref64.yaml",
             c.replace(c.find("out_dir: " + disk), 9 + disk.size(), "out_dir: " + dir / "ref64"));
  ASSERT_EQ(run_process({kTrainer, "--config", dir / "ref64.yaml"}).exit_code, 0);
  EXPECT_EQ(curve(disk + "/run"), curve(dir / "ref64/run"));
}

TEST(Faults, AClaimingWorkerOnAFullDiskRecordsEachFailureAndGoesOn) {
  // Under --claim-next a full disk aborted the whole worker (exit 134 inside
  // LibTorch): the point got no end record and no failure reason.
  TempDir dir;
  const std::string disk = dir / "disk";
  Tmpfs tmpfs(disk, "2m");
  if (!tmpfs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << tmpfs.error();
  // Two points of d_model 64: a checkpoint is about 1.2 MB, so the second
  // checkpoint of a point does not fit beside its first.
  write_text(dir / "sweep.yaml",
             "out_dir: " + disk +
                 "\nconfig:\n  model: {layers: 2, d_model: 64, heads: 2, context: 32}\n"
                 "  data.synthetic: {train_tokens: 200000, val_tokens: 8192}\n"
                 "  train: {batch_size: 16, steps: 200, eval_every: 50, eval_batches: 2, "
                 "checkpoint_every: 20}\n"
                 "grid:\n  seed: [0, 1]\n");
  auto r = run_process({kTrainer, "--config", dir / "sweep.yaml", "--claim-next"});
  EXPECT_NE(r.exit_code, 134) << r.output;
  EXPECT_NE(r.output.find("No space left on device while writing the checkpoint"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("ran 2 point(s)"), std::string::npos) << r.output;  // it went on
  auto status = run_process({kTrainer, "--config", dir / "sweep.yaml", "--status"});
  EXPECT_NE(status.output.find("done 0 | running 0 | failed 2 | pending 0"), std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("No space left on device"), std::string::npos) << status.output;
  int ends = 0;
  for (const auto& a : testing::read_jsonl(disk + "/.sweep/attempts.jsonl"))
    ends += a.at("event") == "end";
  EXPECT_EQ(ends, 2);
}

TEST(Faults, AFullDiskDuringMetricsWritesEndsTheRunWithItsOwnError) {
  // Metrics appends on a full file system: exit 1 naming metrics.jsonl and
  // the system's reason, not a crash.
  TempDir dir;
  const int steps = 300;
  const auto reference = uninterrupted(dir, "reference", steps);
  const std::string disk = dir / "disk";
  Tmpfs tmpfs(disk, "1m");
  if (!tmpfs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): " << tmpfs.error();
  // No checkpoints, and 40 KB left: the metrics lines (about 300 bytes a
  // step) run out of space first.
  write_text(disk + "/filler", std::string((1 << 20) - (40 << 10), 'x'));
  std::string c = config(disk, steps);
  c.replace(c.find("checkpoint_every: 20"), 20, "checkpoint_every: 0");
  write_text(dir / "c.yaml", c);
  auto r = run_process({kTrainer, "--config", dir / "c.yaml"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("metrics.jsonl: append failed: No space left on device"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(disk + "/run/DONE"));
  // With space again the run starts over (it had no checkpoint) and ends as
  // an uninterrupted run does.
  fs::remove(disk + "/filler");
  ASSERT_TRUE(tmpfs.resize("16m"));
  r = run_process({kTrainer, "--config", dir / "c.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(curve(disk + "/run"), reference);
}

TEST(Faults, ASignalAtAnyMomentOfStartUpLosesNothing) {
  // A signal in the first ~0.3 s killed the trainer before its handlers were
  // installed. Now: before main (LibTorch loading) the default action ends it
  // with nothing written; from main on, it stops cleanly (75) or finishes.
  TempDir dir;
  const int steps = 60;
  const auto reference = uninterrupted(dir, "reference", steps);
  for (int delay_ms : {20, 150, 300, 500, 800, 1200}) {
    SCOPED_TRACE(delay_ms);
    TempDir run;
    write_text(run / "c.yaml", config(run.path(), steps));
    const pid_t pid = spawn_process({kTrainer, "--config", run / "c.yaml"}, run / "first.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    kill(pid, SIGTERM);
    const int code = wait_process(pid);
    if (code == -SIGTERM) {  // before main: nothing may have been written
      EXPECT_FALSE(fs::exists(run / "run/metrics.jsonl")) << read_text(run / "first.log");
    } else {
      EXPECT_TRUE(code == 75 || code == 0) << code << "\n" << read_text(run / "first.log");
    }
    auto r = run_process({kTrainer, "--config", run / "c.yaml"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(curve(run / "run"), reference);
  }
}

TEST(Faults, AMovedRunDirectoryResumes) {
  // out_dir counted as a config change, so a run moved elsewhere (normal on
  // clusters) could not be resumed.
  TempDir dir;
  const int steps = 300;
  const auto reference = uninterrupted(dir, "reference", steps);
  killed_run(dir, steps);
  fs::create_directories(dir / "moved");
  fs::rename(dir / "run", dir / "moved/run");
  auto r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "out_dir=" + dir / "moved"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from " + dir / "moved/run/checkpoints/step_"), std::string::npos)
      << r.output;
  EXPECT_EQ(curve(dir / "moved/run"), reference);
}

TEST(Faults, AFinishedRunAskedForWithAnotherConfigIsRefused) {
  // It printed "already done" and exited 0 without a word about the change.
  TempDir dir;
  write_text(dir / "c.yaml", config(dir.path(), 20));
  ASSERT_EQ(run_process({kTrainer, "--config", dir / "c.yaml"}).exit_code, 0);
  auto r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "optim.lr=1e-2"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("holds a run with a different config"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("optim.lr: 3e-3 -> 1e-2"), std::string::npos) << r.output;
  r = run_process({kTrainer, "--config", dir / "c.yaml", "--set", "threads=2"});
  EXPECT_EQ(r.exit_code, 0) << r.output;  // where and how it runs may differ
  EXPECT_NE(r.output.find("already done"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace scalebed
