// The sweep scheduler driving real `trainer` processes: claiming workers
// with one killed mid-run and restarted (every point finishes exactly once,
// with the losses of an uninterrupted run), local runs that skip finished
// points, failures with their reason and --retry-failed, and --collect.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include "trainer_process.h"

namespace scalebed {
namespace {
namespace fs = std::filesystem;

// Four small points (L1, d32, T32), each a few seconds, checkpointing often.
std::string sweep_text(const std::string& out_dir, int steps, const std::string& extra = "") {
  return "out_dir: " + out_dir +
         "\nconfig:\n  model: {layers: 1, d_model: 32, heads: 2, context: 32}\n"
         "  data.synthetic: {train_tokens: 200000, val_tokens: 8192}\n"
         "  train: {batch_size: 16, steps: " +
         std::to_string(steps) +
         ", eval_every: 50, eval_batches: 2, log_every: 1, checkpoint_every: 20}\n"
         "scheduler: {heartbeat_s: 0.5, stale_after_s: 5}\n"
         "grid:\n  optim.lr: [1e-3, 3e-3]\n  seed: [0, 1]\n" +
         extra;
}

using testing::read_jsonl;

std::vector<std::string> run_dirs(const std::string& out_dir) {
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator(out_dir)) {
    if (e.is_directory() && e.path().filename().string()[0] != '.') dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// step, train loss, grad norm and val loss of every metrics line.
std::vector<std::string> curve(const std::string& run_dir) {
  std::vector<std::string> out;
  for (const auto& m : read_jsonl(run_dir + "/metrics.jsonl")) {
    out.push_back(m.at("step").dump() + " " + m.at("train_loss").dump() + " " +
                  m.at("grad_norm").dump() + " " +
                  (m.contains("val_loss") ? m.at("val_loss").dump() : "-"));
  }
  return out;
}

// The sweep with its grid cut to one point (seed 0).
std::string one_point(std::string text) {
  const std::string grid = "grid:\n  optim.lr: [1e-3, 3e-3]\n  seed: [0, 1]\n";
  return text.replace(text.find(grid), grid.size(), "grid:\n  seed: [0]\n");
}

// The name of the sweep's first pending point, as --list prints it ("" if none).
std::string first_pending(const std::string& sweep) {
  const auto list = run_process({kTrainer, "--config", sweep, "--list"});
  const size_t at = list.output.find("pending  ");
  if (at == std::string::npos) return "";
  return list.output.substr(at + 9, list.output.find(' ', at + 9) - at - 9);
}

// How many attempts of the sweep in `out_dir` have an end record.
int end_records(const std::string& out_dir) {
  int ends = 0;
  for (const auto& a : read_jsonl(out_dir + "/.sweep/attempts.jsonl"))
    ends += a.at("event") == "end";
  return ends;
}

TEST(SweepRuns, ClaimingWorkersWithOneKilledFinishEveryPointExactlyOnce) {
  TempDir dir;
  const int steps = 200;
  write_text(dir / "sweep.yaml", sweep_text(dir / "runs", steps));
  const std::vector<std::string> worker = {kTrainer, "--config", dir / "sweep.yaml",
                                           "--claim-next"};
  std::vector<pid_t> pids;
  for (int w = 0; w < 3; ++w)
    pids.push_back(spawn_process(worker, dir / ("w" + std::to_string(w))));

  // Kill the worker that holds a lock once its point has a checkpoint.
  std::string victim_dir;
  pid_t victim = 0;
  ASSERT_TRUE(wait_until(
      [&] {
        if (!fs::exists(dir / "runs/.sweep/locks")) return false;
        for (const auto& e : fs::directory_iterator(dir / "runs/.sweep/locks")) {
          const auto lock = nlohmann::json::parse(read_text(e.path()), nullptr, false);
          if (!lock.is_object()) continue;
          const std::string run = dir / ("runs/" + lock.value("point", ""));
          if (fs::exists(run + "/checkpoints/step_00000040") && !fs::exists(run + "/DONE")) {
            victim = lock.value("pid", 0);
            victim_dir = run;
            return true;
          }
        }
        return false;
      },
      240));
  ASSERT_GT(victim, 0);
  kill(victim, SIGKILL);
  int killed = -1;
  for (auto& p : pids) {
    if (p == victim) {
      killed = wait_process(p);
      p = spawn_process(worker, dir / "restarted");
    }
  }
  EXPECT_EQ(killed, -SIGKILL);
  ASSERT_FALSE(fs::exists(victim_dir + "/DONE")) << "the point finished before the kill";
  for (pid_t p : pids) EXPECT_EQ(wait_process(p), 0) << read_text(dir / "restarted");

  // Every point is done, and each ran to completion exactly once.
  const auto dirs = run_dirs(dir / "runs");
  ASSERT_EQ(dirs.size(), 4u);
  std::map<std::string, int> starts, clean_ends;
  for (const auto& a : read_jsonl(dir / "runs/.sweep/attempts.jsonl")) {
    const std::string point = a.at("point");
    if (a.at("event") == "start") starts[point]++;
    if (a.at("event") == "end" && a.at("exit_code") == 0) clean_ends[point]++;
  }
  const std::string victim_name = fs::path(victim_dir).filename();
  for (const auto& d : dirs) {
    const std::string name = fs::path(d).filename();
    EXPECT_TRUE(fs::exists(d + "/DONE")) << name;
    EXPECT_EQ(clean_ends[name], 1) << name;
    EXPECT_EQ(starts[name], name == victim_name ? 2 : 1) << name;
    // The resumed run dropped what it logged after its checkpoint: steps 1..N once each.
    const auto c = curve(d);
    ASSERT_EQ(c.size(), static_cast<size_t>(steps)) << name;
    for (int s = 0; s < steps; ++s)
      EXPECT_EQ(c[s].substr(0, c[s].find(' ')), std::to_string(s + 1));
  }
  // The killed point's losses equal those of the same point run uninterrupted
  // elsewhere (same config -> same directory name there).
  write_text(dir / "reference/sweep.yaml", sweep_text(dir / "reference/runs", steps));
  auto list = run_process({kTrainer, "--config", dir / "reference/sweep.yaml", "--list"});
  const size_t at = list.output.find(victim_name);
  ASSERT_NE(at, std::string::npos) << list.output;
  const std::string index = list.output.substr(list.output.rfind('\n', at) + 1, 4);
  auto r = run_process({kTrainer, "--config", dir / "reference/sweep.yaml", "--index",
                        std::to_string(std::stoi(index))});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(curve(victim_dir), curve(dir / ("reference/runs/" + victim_name)));
}

TEST(SweepRuns, AWaitingWorkerTakesOverAPointWhoseWorkerDiedElsewhere) {
  // One point, held by a worker on another host that stopped heartbeating.
  TempDir dir;
  std::string text = one_point(sweep_text(dir / "runs", 20));
  text.replace(text.find("stale_after_s: 5"), 16, "stale_after_s: 4");
  write_text(dir / "sweep.yaml", text);
  const std::string name = first_pending(dir / "sweep.yaml");
  ASSERT_FALSE(name.empty());
  write_text(dir / ("runs/.sweep/locks/" + name + ".lock"),
             "{\"host\": \"node-that-died\", \"pid\": 1, \"nonce\": \"x\"}\n");
  // Without --wait the worker leaves at once: the point looks taken.
  auto leave = run_process({kTrainer, "--config", dir / "sweep.yaml", "--claim-next"});
  EXPECT_EQ(leave.exit_code, 0);
  EXPECT_NE(leave.output.find("ran 0 point(s)"), std::string::npos) << leave.output;
  // With --wait it polls until the lock is stale (4 s), then takes the point over.
  auto stay = run_process({kTrainer, "--config", dir / "sweep.yaml", "--claim-next", "--wait"});
  EXPECT_EQ(stay.exit_code, 0) << stay.output;
  EXPECT_NE(stay.output.find("ran 1 point(s)"), std::string::npos) << stay.output;
  EXPECT_TRUE(fs::exists(dir / ("runs/" + name + "/DONE")));
}

TEST(SweepRuns, AFrozenWorkerKeepsItsPointOnItsHostAndWritesNothingOnceTakenOverElsewhere) {
  // A worker frozen past stale_after_s lost its point to another worker on
  // the same host and, woken, kept training the same directory: 521
  // duplicated metrics lines and two `exit_code 0` attempts.
  TempDir dir;
  std::string text = one_point(sweep_text(dir / "runs", 100000));
  text.replace(text.find("stale_after_s: 5"), 16, "stale_after_s: 1");
  write_text(dir / "sweep.yaml", text);
  const std::string sweep = dir / "sweep.yaml";
  const std::string name = first_pending(sweep);
  ASSERT_FALSE(name.empty());
  const std::string run = dir / ("runs/" + name),
                    lock = dir / ("runs/.sweep/locks/" + name + ".lock");

  const pid_t frozen = spawn_process({kTrainer, "--config", sweep, "--claim-next"}, dir / "a.log");
  ASSERT_TRUE(wait_until([&] { return read_jsonl(run + "/metrics.jsonl").size() >= 30; }, 120));
  kill(frozen, SIGSTOP);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // three times stale_after_s
  // On its own host a frozen worker's point is not taken: its process lives.
  auto other = run_process({kTrainer, "--config", sweep, "--claim-next"});
  EXPECT_EQ(other.exit_code, 0) << other.output;
  EXPECT_NE(other.output.find("ran 0 point(s)"), std::string::npos) << other.output;

  // A worker on another host would take it over now: its lock replaces ours.
  write_text(lock, "{\"host\": \"other-node\", \"pid\": 1, \"nonce\": \"theirs\"}\n");
  const auto lines_before = read_jsonl(run + "/metrics.jsonl").size();
  kill(frozen, SIGCONT);
  const int code = wait_process(frozen);
  const std::string log = read_text(dir / "a.log");
  EXPECT_NE(code, 0) << log;
  EXPECT_NE(log.find("left to the worker that took it over"), std::string::npos) << log;
  EXPECT_NE(log.find("taken over by other-node:1"), std::string::npos) << log;
  // Not one line more: the first write after waking verified the lock.
  EXPECT_EQ(read_jsonl(run + "/metrics.jsonl").size(), lines_before);
  EXPECT_FALSE(fs::exists(run + "/DONE"));
  EXPECT_EQ(read_text(lock).find("theirs") != std::string::npos, true);  // their lock untouched
  // And no end record of an attempt that no longer owned the point.
  EXPECT_EQ(end_records(dir / "runs"), 0);
}

TEST(SweepRuns, AMultiRankPointTakenOverElsewhereStopsItsRanksWithoutACheckpoint) {
  // The ranks of a multi-rank point are processes of their own: when the
  // worker finds its lock taken over, its launcher kills them (a SIGTERM would
  // make them write a checkpoint) and the worker records nothing.
  TempDir dir;
  std::string text = one_point(sweep_text(dir / "runs", 100000));
  text.replace(text.find("scheduler: {"), 12, "scheduler: {gpus_per_run: 2, ");
  write_text(dir / "sweep.yaml", text);
  const std::string sweep = dir / "sweep.yaml";
  const std::string name = first_pending(sweep);
  ASSERT_FALSE(name.empty());
  const std::string run = dir / ("runs/" + name),
                    lock = dir / ("runs/.sweep/locks/" + name + ".lock");
  const pid_t worker =
      spawn_process({kTrainer, "--config", sweep, "--claim-next"}, dir / "w.log", true);
  ASSERT_TRUE(wait_until([&] { return read_jsonl(run + "/metrics.jsonl").size() >= 10; }, 120));
  write_text(lock, "{\"host\": \"other-node\", \"pid\": 1, \"nonce\": \"theirs\"}\n");
  const auto taken = std::chrono::steady_clock::now();
  const int code = wait_process(worker);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - taken).count();
  kill(-worker, SIGKILL);  // in case anything is left
  const std::string log = read_text(dir / "w.log");
  EXPECT_NE(code, 0) << log;
  EXPECT_LT(seconds, 10) << log;
  EXPECT_NE(log.find("killing the ranks (no checkpoint)"), std::string::npos) << log;
  EXPECT_NE(log.find("left to the worker that took it over"), std::string::npos) << log;
  // Nothing more is written once the worker is gone: no line, no DONE, no
  // checkpoint after the takeover.
  const auto lines = read_jsonl(run + "/metrics.jsonl").size();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_EQ(read_jsonl(run + "/metrics.jsonl").size(), lines);
  EXPECT_FALSE(fs::exists(run + "/DONE"));
  EXPECT_NE(read_text(lock).find("theirs"), std::string::npos);
  EXPECT_EQ(end_records(dir / "runs"), 0);
}

TEST(SweepRuns, LocalRunSkipsFinishedPointsAndCollects) {
  TempDir dir;
  write_text(dir / "sweep.yaml", sweep_text(dir / "runs", 30));
  const std::string sweep = dir / "sweep.yaml";
  auto first = run_process({kTrainer, "--config", sweep, "--jobs", "2"});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("4 to run, 2 at a time"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("finished 4 point(s)"), std::string::npos) << first.output;
  // Each progress line counts the point that took a finished one's slot: as
  // many running as slots and remaining points allow (it said 1 of 2 before).
  std::istringstream lines(first.output);
  int progress_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    int done = 0, total = 0, running = 0, queued = 0;
    if (std::sscanf(line.c_str(), "[sweep] %d/%d done | %d running | %d queued", &done, &total,
                    &running, &queued) != 4) {
      continue;
    }
    ++progress_lines;
    EXPECT_EQ(running, std::min(2, total - done)) << line;
    EXPECT_EQ(queued, total - done - running) << line;
  }
  EXPECT_GE(progress_lines, 2) << first.output;  // at least the start and the last point
  const size_t attempts = read_jsonl(dir / "runs/.sweep/attempts.jsonl").size();
  EXPECT_EQ(attempts, 8u);  // a start and an end per point

  auto again = run_process({kTrainer, "--config", sweep});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("4 done, 0 to run"), std::string::npos) << again.output;
  EXPECT_EQ(read_jsonl(dir / "runs/.sweep/attempts.jsonl").size(), attempts);  // nothing ran twice
  auto one = run_process({kTrainer, "--config", sweep, "--index", "2"});
  EXPECT_EQ(one.exit_code, 0);
  EXPECT_NE(one.output.find("is done; nothing to do"), std::string::npos) << one.output;
  // 2^32 + 2 must not wrap to index 2.
  auto both = run_process({kTrainer, "--config", sweep, "--list", "--status"});
  EXPECT_EQ(both.exit_code, 2) << both.output;
  EXPECT_NE(both.output.find("--status cannot be combined with --list"), std::string::npos)
      << both.output;
  auto planned = run_process({kTrainer, "--config", sweep, "--world-size", "2"});
  EXPECT_EQ(planned.exit_code, 2) << planned.output;
  EXPECT_NE(planned.output.find("--world-size applies to one run, not to a sweep file"),
            std::string::npos)
      << planned.output;
  auto wrapped = run_process({kTrainer, "--config", sweep, "--index", "4294967298"});
  EXPECT_EQ(wrapped.exit_code, 2) << wrapped.output;
  EXPECT_NE(
      wrapped.output.find("--index: expected an integer in [0, 2147483647], got '4294967298'"),
      std::string::npos)
      << wrapped.output;

  auto status = run_process({kTrainer, "--config", sweep, "--status"});
  EXPECT_NE(status.output.find("done 4 | running 0 | failed 0 | pending 0"), std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("remaining 0 (0%)"), std::string::npos) << status.output;

  auto collect = run_process({kTrainer, "--config", sweep, "--collect"});
  ASSERT_EQ(collect.exit_code, 0) << collect.output;
  const std::string csv = read_text(dir / "runs/collected.csv");
  const std::string header = csv.substr(0, csv.find('\n'));
  for (const char* column :
       {"index", "name", "status", "optim.lr", "seed", "params_non_embedding", "flops_md",
        "flops_6nd", "flops_palm", "final_val_loss", "best_val_loss", "tokens", "batch_tokens"}) {
    EXPECT_NE(("," + header + ",").find(std::string(",") + column + ","), std::string::npos)
        << column << " in " << header;
  }
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
  const auto rows = read_jsonl(dir / "runs/collected.jsonl");
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& row : rows) {
    EXPECT_EQ(row.at("status"), "done");
    const auto summary =
        nlohmann::json::parse(read_text(row.at("run_dir").get<std::string>() + "/summary.json"));
    EXPECT_EQ(row.at("final_val_loss"), summary.at("final_val_loss"));
    EXPECT_EQ(row.at("params_non_embedding"), summary.at("params").at("non_embedding"));
  }
}

TEST(SweepRuns, SetOutDirMovesTheWholeSweepAndSetNameIsRefused) {
  // --set out_dir=X on a sweep was silently ignored.
  TempDir dir;
  write_text(dir / "sweep.yaml", sweep_text(dir / "runs", 30));
  auto r = run_process({kTrainer, "--config", dir / "sweep.yaml", "--set",
                        "out_dir=" + dir / "elsewhere", "--status"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(" + dir / "elsewhere" + "): 4 points"), std::string::npos) << r.output;
  r = run_process({kTrainer, "--config", dir / "sweep.yaml", "--set", "name=x", "--status"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--set name: a sweep names its points"), std::string::npos) << r.output;
}

TEST(SweepRuns, FailuresAreReportedWithTheirReasonAndRetriedOnRequest) {
  TempDir dir;
  // lr 1e30 makes two of the points non-finite at once.
  write_text(dir / "sweep.yaml",
             "out_dir: " + dir.path() +
                 "/runs\nconfig:\n  model: {layers: 1, d_model: 32, heads: 2, context: 32}\n"
                 "  train: {batch_size: 8, steps: 10, eval_every: 0, eval_batches: 1}\n"
                 "  schedule.warmup_steps: 0\n"
                 "grid:\n  optim.lr: [1e-3, 1e30]\n");
  const std::string sweep = dir / "sweep.yaml";
  auto run = run_process({kTrainer, "--config", sweep});
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("failed with exit code 3"), std::string::npos) << run.output;
  auto status = run_process({kTrainer, "--config", sweep, "--status"});
  EXPECT_NE(status.output.find("done 1 | running 0 | failed 1 | pending 0"), std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("non-finite"), std::string::npos) << status.output;
  auto index = run_process({kTrainer, "--config", sweep, "--index", "1"});
  EXPECT_EQ(index.exit_code, 1);
  EXPECT_NE(index.output.find("rerun it with --retry-failed"), std::string::npos) << index.output;
  auto retry = run_process({kTrainer, "--config", sweep, "--retry-failed"});
  EXPECT_NE(retry.output.find("1 to run"), std::string::npos) << retry.output;

  // A Slurm task of an edited sweep refuses to run an index that moved.
  auto slurm = run_process({kTrainer, "--config", sweep, "--slurm", "--retry-failed"});
  ASSERT_EQ(slurm.exit_code, 0) << slurm.output;
  EXPECT_NE(slurm.output.find("sbatch " + dir.path() + "/runs/.sweep/slurm/sweep.sbatch"),
            std::string::npos)
      << slurm.output;
  EXPECT_EQ(run_process({"/bin/bash", "-n", dir / "runs/.sweep/slurm/sweep.sbatch"}).exit_code, 0);
  auto moved =
      run_process({kTrainer, "--config", sweep, "--index", "0", "--sweep-hash", "0000000000"});
  EXPECT_EQ(moved.exit_code, 1);
  EXPECT_NE(moved.output.find("the sweep changed since its job was written"), std::string::npos);
  // Sweep flags on a plain run config, and bad flag values, are usage errors.
  write_text(dir / "run.yaml", "name: x\n");
  EXPECT_EQ(run_process({kTrainer, "--config", dir / "run.yaml", "--list"}).exit_code, 2);
  EXPECT_EQ(run_process({kTrainer, "--config", sweep, "--index", "9"}).exit_code, 2);
  EXPECT_EQ(run_process({kTrainer, "--config", sweep, "--jobs", "x"}).exit_code, 2);
}

TEST(SweepRuns, PointsOnSeveralRanksMatchSingleRankPoints) {
  // gpus_per_run: 2 on CPU runs each point as two Gloo ranks; the curves
  // match the same sweep on one rank (same global batch), and each point is
  // claimed and recorded once, by the process that starts its ranks.
  TempDir dir;
  const std::string two = sweep_text(dir / "two", 20, "");
  std::string text = two;
  text.replace(text.find("scheduler: {"), 12, "scheduler: {gpus_per_run: 2, ");
  write_text(dir / "two.yaml", text);
  write_text(dir / "one.yaml", sweep_text(dir / "one", 20));
  auto r2 = run_process({kTrainer, "--config", dir / "two.yaml"});
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  auto r1 = run_process({kTrainer, "--config", dir / "one.yaml"});
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  const auto a = run_dirs(dir / "one"), b = run_dirs(dir / "two");
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(fs::path(a[i]).filename(), fs::path(b[i]).filename());  // same run, same hash
    const auto ma = read_jsonl(a[i] + "/metrics.jsonl"), mb = read_jsonl(b[i] + "/metrics.jsonl");
    ASSERT_EQ(ma.size(), mb.size());
    for (size_t k = 0; k < ma.size(); ++k) {
      EXPECT_NEAR(ma[k].at("train_loss").get<double>(), mb[k].at("train_loss").get<double>(), 1e-5);
    }
  }
  EXPECT_EQ(read_jsonl(dir / "two/.sweep/attempts.jsonl").size(), 8u);
  EXPECT_NE(read_text(dir / "two/.sweep/logs/" + fs::path(b[0]).filename().string() + ".out")
                .find("started 2 ranks"),
            std::string::npos);
  auto slurm = run_process({kTrainer, "--config", dir / "two.yaml", "--slurm", "--retry-failed"});
  EXPECT_EQ(slurm.exit_code, 0) << slurm.output;  // nothing pending: no script, no error
}

TEST(SweepRuns, InsideASlurmJobAMultiRankPointStartsItsRanksWithSrun) {
  // A stand-in for srun: starts the tasks with the variables Slurm gives them.
  TempDir dir;
  write_text(dir / "bin/srun",
             "#!/bin/bash\n"
             "echo \"$@\" > \"$(dirname \"$0\")/srun.args\"\n"
             "n=${1#--ntasks=}; shift 2\n"
             "for ((i = 0; i < n; i++)); do\n"
             "  SLURM_PROCID=$i SLURM_NTASKS=$n SLURM_LOCALID=$i SLURM_JOB_NODELIST=localhost \\\n"
             "  MASTER_ADDR=127.0.0.1 \"$@\" & pids+=($!)\n"
             "done\n"
             "rc=0; for p in \"${pids[@]}\"; do wait $p || rc=$?; done; exit $rc\n");
  fs::permissions(dir / "bin/srun", fs::perms::owner_all);
  std::string text = sweep_text(dir / "runs", 20);
  text.replace(text.find("scheduler: {"), 12, "scheduler: {gpus_per_run: 2, ");
  write_text(dir / "sweep.yaml", text);
  const std::string job_id = std::to_string(10000 + ::getpid() % 9000);  // port 20000 + id
  auto r = run_process({"/usr/bin/env", "PATH=" + dir.path() + "/bin:" + std::getenv("PATH"),
                        "SLURM_JOB_ID=" + job_id, kTrainer, "--config", dir / "sweep.yaml",
                        "--index", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("srun started 2 ranks"), std::string::npos) << r.output;
  const std::string args = read_text(dir / "bin/srun.args");
  EXPECT_EQ(args.rfind("--ntasks=2 --kill-on-bad-exit=1 ", 0), 0u) << args;
  EXPECT_NE(args.find("--index 0 --sweep-hash"), std::string::npos) << args;
  EXPECT_NE(args.find("--train-only"), std::string::npos) << args;
  const auto dirs = run_dirs(dir / "runs");
  ASSERT_EQ(dirs.size(), 1u);
  EXPECT_TRUE(fs::exists(dirs[0] + "/DONE"));
  EXPECT_EQ(read_jsonl(dirs[0] + "/metrics.jsonl").size(), 20u);
}

}  // namespace
}  // namespace scalebed
