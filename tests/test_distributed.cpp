// Data parallel training through the `trainer` binary with Gloo on CPU:
// 2 ranks against 1 rank at the same global batch (AR and diffusion),
// kill-and-resume of a 2-rank job against an uninterrupted one, and a killed
// rank ending the job with a clear error instead of a hang. Also rank
// discovery from torchrun's and Slurm's variables.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "distributed/ranks.h"
#include "trainer_process.h"
#include "util/error.h"

namespace scalebed {
namespace {
namespace fs = std::filesystem;

RankInfo ranks_from(const std::map<std::string, std::string>& env) {
  return discover_ranks([&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(Ranks, FromTorchrunSlurmOrAlone) {
  EXPECT_FALSE(ranks_from({}).distributed());
  const RankInfo t = ranks_from({{"RANK", "3"},
                                 {"WORLD_SIZE", "4"},
                                 {"LOCAL_RANK", "1"},
                                 {"MASTER_ADDR", "node7"},
                                 {"MASTER_PORT", "29400"}});
  EXPECT_EQ(t.source, "torchrun");
  EXPECT_EQ(t.rank, 3);
  EXPECT_EQ(t.world, 4);
  EXPECT_EQ(t.local_rank, 1);
  EXPECT_EQ(t.master_addr, "node7");
  EXPECT_EQ(t.master_port, 29400);
  const RankInfo s = ranks_from({{"SLURM_PROCID", "5"},
                                 {"SLURM_NTASKS", "8"},
                                 {"SLURM_LOCALID", "1"},
                                 {"SLURM_JOB_NODELIST", "gpu[012-015],cpu1"},
                                 {"SLURM_JOB_ID", "4242"}});
  EXPECT_EQ(s.source, "slurm");
  EXPECT_EQ(s.rank, 5);
  EXPECT_EQ(s.world, 8);
  EXPECT_EQ(s.local_rank, 1);
  EXPECT_EQ(s.master_addr, "gpu012");
  EXPECT_EQ(s.master_port, 20000 + 4242);
  // A torchrun-style launch of one rank joins a process group (as DDP does);
  // one Slurm task (each task of a sweep's job array) does not.
  EXPECT_TRUE(ranks_from({{"RANK", "0"}, {"WORLD_SIZE", "1"}}).distributed());
  EXPECT_FALSE(ranks_from({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}}).distributed());
  EXPECT_EQ(first_slurm_host("a,b"), "a");
  EXPECT_EQ(first_slurm_host("n[1,3-4]"), "n1");
  try {  // 2^32 + 1 ranks must not read as one
    ranks_from({{"RANK", "0"}, {"WORLD_SIZE", "4294967297"}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("WORLD_SIZE: expected a non-negative integer below 2^31"),
              std::string::npos)
        << e.what();
  }
  try {
    ranks_from({{"RANK", "4"}, {"WORLD_SIZE", "4"}});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("RANK: rank 4 is outside a world of 4"), std::string::npos)
        << e.what();
  }
}

TEST(Ranks, GlooListensOnTheRouteToTheRendezvousHost) {
  EXPECT_EQ(local_address_towards("127.0.0.1"), "127.0.0.1");
  const std::string local = local_address_towards("localhost");
  EXPECT_TRUE(local == "127.0.0.1" || local == "::1") << local;
  try {
    local_address_towards("no-such-host.invalid");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("no-such-host.invalid: cannot resolve the rendezvous host"),
        std::string::npos)
        << e.what();
  }
}

std::string config(const std::string& out_dir, int steps, const std::string& extra = "") {
  return "name: run\nout_dir: " + out_dir +
         "\nmodel: {layers: 2, d_model: 32, heads: 2, context: 32}\n"
         "data: {synthetic: {train_tokens: 200000, val_tokens: 8192}}\n"
         "optim: {lr: 3e-3}\n"
         "train: {batch_size: 16, micro_batch: 4, steps: " +
         std::to_string(steps) +
         ", eval_every: 10, eval_batches: 4, log_every: 1, checkpoint_every: 10}\n" + extra;
}

std::vector<nlohmann::json> metrics_of(const std::string& run_dir) {
  return testing::read_jsonl(run_dir + "/metrics.jsonl");
}

void expect_same_curves(const std::string& a, const std::string& b, double tolerance) {
  const auto ma = metrics_of(a), mb = metrics_of(b);
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    EXPECT_EQ(ma[i].at("step"), mb[i].at("step"));
    for (const char* key : {"train_loss", "train_metric", "grad_norm", "val_loss"}) {
      if (!ma[i].contains(key)) continue;
      EXPECT_NEAR(ma[i].at(key).get<double>(), mb[i].at(key).get<double>(), tolerance)
          << key << " at step " << ma[i].at("step");
    }
  }
}

// The ranks a launcher started (its children).
std::vector<pid_t> ranks_of(pid_t launcher) {
  std::istringstream in(read_text("/proc/" + std::to_string(launcher) + "/task/" +
                                  std::to_string(launcher) + "/children"));
  std::vector<pid_t> out;
  for (pid_t pid = 0; in >> pid;) out.push_back(pid);
  return out;
}

// Whether a process has ended (gone, or a zombie waiting for its new parent).
bool ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  return text.empty() || paren == std::string::npos || text.substr(paren + 2, 1) == "Z";
}

TEST(DataParallel, TwoRanksFollowTheOneRankCurveAtTheSameGlobalBatch) {
  for (const std::string objective : {"", "objective: {kind: diffusion, noise: masked}\n"}) {
    TempDir dir;
    write_text(dir / "one.yaml", config(dir / "one", 20, objective));
    write_text(dir / "two.yaml", config(dir / "two", 20, objective));
    auto one = run_process({kTrainer, "--config", dir / "one.yaml"});
    ASSERT_EQ(one.exit_code, 0) << one.output;
    auto two = run_process({kTrainer, "--nproc-per-node", "2", "--config", dir / "two.yaml"});
    ASSERT_EQ(two.exit_code, 0) << two.output;
    EXPECT_NE(two.output.find("started 2 ranks"), std::string::npos) << two.output;
    expect_same_curves(dir / "one/run", dir / "two/run", 1e-5);
    EXPECT_TRUE(fs::exists(dir / "two/run/DONE"));
  }
}

// The path NCCL takes on a machine with one GPU, here with Gloo: one launched
// rank joins a process group (without it, a one-rank launch trained alone and
// never touched c10d) and follows the single-process curve exactly.
TEST(DataParallel, OneLaunchedRankJoinsAProcessGroupAndFollowsTheSingleProcessCurve) {
  TempDir dir;
  write_text(dir / "alone.yaml", config(dir / "alone", 10));
  write_text(dir / "launched.yaml", config(dir / "launched", 10));
  auto alone = run_process({kTrainer, "--config", dir / "alone.yaml"});
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  EXPECT_EQ(alone.output.find("data parallel"), std::string::npos) << alone.output;
  auto launched =
      run_process({kTrainer, "--nproc-per-node", "1", "--config", dir / "launched.yaml"});
  ASSERT_EQ(launched.exit_code, 0) << launched.output;
  EXPECT_NE(launched.output.find("data parallel: 1 rank (torchrun), Gloo on 127.0.0.1"),
            std::string::npos)
      << launched.output;
  expect_same_curves(dir / "alone/run", dir / "launched/run", 1e-7);
}

TEST(DataParallel, KilledTwoRankJobResumesToTheUninterruptedCurve) {
  TempDir dir;
  const int steps = 120;
  write_text(dir / "full.yaml", config(dir / "full", steps));
  auto full = run_process({kTrainer, "--nproc-per-node", "2", "--config", dir / "full.yaml"});
  ASSERT_EQ(full.exit_code, 0) << full.output;

  write_text(dir / "cut.yaml", config(dir / "cut", steps));
  const std::vector<std::string> job = {kTrainer, "--nproc-per-node", "2", "--config",
                                        dir / "cut.yaml"};
  pid_t pid = spawn_process(job, dir / "first.log", /*new_group=*/true);
  ASSERT_TRUE(wait_until(
      [&] {
        return fs::exists(dir / "cut/run/checkpoints/step_00000030") &&
               metrics_of(dir / "cut/run").size() >= 35;
      },
      120))
      << read_text(dir / "first.log");
  const std::vector<pid_t> ranks = ranks_of(pid);
  for (pid_t p : ranks) kill(p, SIGKILL);  // both ranks and the launcher at once
  kill(pid, SIGKILL);
  wait_process(pid);
  ASSERT_TRUE(wait_until([&] { return std::all_of(ranks.begin(), ranks.end(), ended); }, 30));
  ASSERT_FALSE(fs::exists(dir / "cut/run/DONE")) << "the job finished before it could be killed";
  auto resumed = run_process(job);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed from"), std::string::npos);
  expect_same_curves(dir / "full/run", dir / "cut/run", 0.0);  // bit-identical
}

// Sharding (distributed.shard, ZeRO-1/2): 2 and 4 ranks with each mode
// against one process at the same global batch, within the data-parallel
// tolerance. Buckets of 10 KB split the 25k parameters into several buckets
// whose chunks cut tensors in the middle; 2 ranks take two micro-steps each
// (gradients mode reduce-scatters both and sums them), 4 ranks one.
TEST(DataParallel, ShardedRanksFollowTheOneRankCurve) {
  TempDir dir;
  write_text(dir / "one.yaml", config(dir / "one", 20));
  auto one = run_process({kTrainer, "--config", dir / "one.yaml"});
  ASSERT_EQ(one.exit_code, 0) << one.output;
  for (const std::string shard : {"optimizer", "gradients"}) {
    for (const std::string world : {"2", "4"}) {
      SCOPED_TRACE(shard + " on " + world + " ranks");
      const std::string name = shard + world;
      write_text(dir / (name + ".yaml"),
                 config(dir / name, 20, "distributed: {shard: " + shard + ", bucket_mb: 0.01}\n"));
      auto run =
          run_process({kTrainer, "--nproc-per-node", world, "--config", dir / (name + ".yaml")});
      ASSERT_EQ(run.exit_code, 0) << run.output;
      EXPECT_NE(run.output.find("sharding " + shard), std::string::npos) << run.output;
      expect_same_curves(dir / "one/run", dir / (name + "/run"), 1e-5);
      // Each rank wrote its chunks of the optimizer state next to the model.
      for (int r = 0; r < std::stoi(world); ++r) {
        EXPECT_TRUE(fs::exists(dir / (name + "/run/checkpoints/step_00000020/optim.rank" +
                                      std::to_string(r) + ".pt")));
      }
    }
  }
}

// A checkpoint written by ranks sharding gradients, resumed on another number
// of ranks sharding the optimizer (4 -> 2: each new chunk gathered from two
// old files; 2 -> 4: each new chunk cut from the middle of an old one) and on
// as many unsharded ranks (whole tensors assembled from every file): the same
// training from there, bit for bit in every loss. 4 -> 2 is the bit-identity
// the sharded run must have with a 2-rank run resumed from the same state.
// On 2 ranks both resumed runs accumulate their two micro-steps locally before
// reducing (gradient sharding would reduce each micro-step and add the
// results: another rounding); gradient clipping is off because the global
// norm is summed in another order over chunks than over tensors (the logged
// norms are compared to 1e-6). Each also follows the uninterrupted run.
void expect_resharded_resume_is_exact(const std::string& written_by,
                                      const std::string& resumed_on) {
  SCOPED_TRACE(written_by + " -> " + resumed_on + " ranks");
  TempDir dir;
  write_text(dir / "first.yaml",
             config(dir / "first", 20, "distributed: {shard: gradients, bucket_mb: 0.01}\n"));
  std::string yaml = read_text(dir / "first.yaml");
  yaml.replace(yaml.find("optim: {lr: 3e-3}"), 17, "optim: {lr: 3e-3, grad_clip: 0}");
  write_text(dir / "first.yaml", yaml);
  auto first =
      run_process({kTrainer, "--nproc-per-node", written_by, "--config", dir / "first.yaml"});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  // A sharded run exports whole weights (and its chunked optimizer state reads back).
  auto exported =
      run_process({kTrainer, "export", "--run", dir / "first/run", "--out", dir / "export"});
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_TRUE(fs::exists(dir / "export/model.safetensors"));
  // Two copies of the run as it stood at its step-10 checkpoint.
  for (const std::string copy : {"sharded", "whole"}) {
    SCOPED_TRACE(copy);
    fs::copy(dir / "first", dir / copy, fs::copy_options::recursive);
    fs::remove_all(dir / (copy + "/run/checkpoints/step_00000020"));
    fs::remove(dir / (copy + "/run/DONE"));
    std::string c = yaml;
    c.replace(c.find("out_dir: " + (dir / "first")), ("out_dir: " + (dir / "first")).size(),
              "out_dir: " + (dir / copy));
    c.replace(c.find("shard: gradients"), 16, copy == "whole" ? "shard: none" : "shard: optimizer");
    write_text(dir / (copy + ".yaml"), c);
    auto resumed =
        run_process({kTrainer, "--nproc-per-node", resumed_on, "--config", dir / (copy + ".yaml")});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;
  }
  const auto sharded = metrics_of(dir / "sharded/run"), whole = metrics_of(dir / "whole/run");
  ASSERT_EQ(sharded.size(), whole.size());
  for (size_t i = 0; i < sharded.size(); ++i) {
    for (const char* key : {"train_loss", "train_metric", "val_loss"}) {
      if (sharded[i].contains(key)) EXPECT_EQ(sharded[i].at(key), whole[i].at(key)) << key << i;
    }
    EXPECT_NEAR(sharded[i].at("grad_norm").get<double>(), whole[i].at("grad_norm").get<double>(),
                1e-6);
  }
  // The final weights are the same: their held-out loss at step 20 is.
  ASSERT_TRUE(sharded.back().contains("val_loss"));
  expect_same_curves(dir / "first/run", dir / "sharded/run", 1e-5);
}

TEST(DataParallel, AShardedCheckpointResumesOnAnotherWorldSizeAndShardMode) {
  expect_resharded_resume_is_exact("4", "2");
  expect_resharded_resume_is_exact("2", "4");
}

// One rank's optimizer file with a flipped byte: the checkpoint fails its
// CRC32 check, the run names that file and resumes from the one before.
TEST(DataParallel, ACorruptRankFileFallsBackToTheOlderCheckpoint) {
  TempDir dir;
  write_text(dir / "c.yaml",
             config(dir / "runs", 20, "distributed: {shard: optimizer, bucket_mb: 0.01}\n"));
  const std::vector<std::string> job = {kTrainer, "--nproc-per-node", "2", "--config",
                                        dir / "c.yaml"};
  auto first = run_process(job);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const std::string file = dir / "runs/run/checkpoints/step_00000020/optim.rank1.pt";
  std::string bytes = read_text(file);
  bytes[bytes.size() / 2] ^= 0x10;
  write_text(file, bytes);
  fs::remove(dir / "runs/run/DONE");
  auto resumed = run_process(job);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("optim.rank1.pt: size or CRC32 differs"), std::string::npos)
      << resumed.output;
  EXPECT_NE(resumed.output.find("(step 10)"), std::string::npos) << resumed.output;
}

// Starts a long 2-rank job in dir/runs, in its own process group as a
// terminal's foreground job is, and waits for its first metrics lines.
pid_t start_two_rank_job(const TempDir& dir) {
  write_text(dir / "c.yaml", config(dir / "runs", 100000));
  const pid_t launcher =
      spawn_process({kTrainer, "--nproc-per-node", "2", "--config", dir / "c.yaml"},
                    dir / "job.log", /*new_group=*/true);
  EXPECT_TRUE(wait_until([&] { return metrics_of(dir / "runs/run").size() >= 5; }, 120));
  return launcher;
}

TEST(DataParallel, RanksStopWithTheirLauncher) {
  // SIGKILL of the launcher left its ranks training as orphans; they wrote
  // DONE 6.9 s later.
  TempDir dir;
  const pid_t launcher = start_two_rank_job(dir);
  const std::vector<pid_t> ranks = ranks_of(launcher);
  ASSERT_EQ(ranks.size(), 2u);
  kill(launcher, SIGKILL);
  wait_process(launcher);
  const bool stopped =
      wait_until([&] { return std::all_of(ranks.begin(), ranks.end(), ended); }, 60);
  for (pid_t p : ranks) kill(p, SIGKILL);  // in case they did not
  const std::string log = read_text(dir / "job.log");
  ASSERT_TRUE(stopped) << log;
  // They stopped as on a SIGTERM: a checkpoint, no DONE.
  EXPECT_NE(log.find("signal 15 received: checkpointed at step"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir / "runs/run/DONE"));
}

TEST(DataParallel, OneCtrlCInATerminalGivesOneCleanStop) {
  // A terminal sends SIGINT to the whole foreground process group: ranks that
  // shared the launcher's group got it twice (directly and forwarded), took it
  // for a second Ctrl-C and exited 130 without a checkpoint.
  TempDir dir;
  const pid_t launcher = start_two_rank_job(dir);
  const std::vector<pid_t> ranks = ranks_of(launcher);
  kill(-launcher, SIGINT);  // what the terminal does: the launcher's process group
  const int code = wait_process(launcher);
  for (pid_t p : ranks) kill(p, SIGKILL);  // in case anything is left
  const std::string log = read_text(dir / "job.log");
  EXPECT_EQ(code, 75) << log;
  EXPECT_NE(log.find("signal 2 received: checkpointed at step"), std::string::npos) << log;
  const auto summary = nlohmann::json::parse(read_text(dir / "runs/run/summary.json"));
  EXPECT_EQ(summary.at("status"), "running");
}

TEST(DataParallel, AKilledRankEndsTheJobWithAClearErrorInsteadOfAHang) {
  TempDir dir;
  write_text(dir / "c.yaml", config(dir / "runs", 100000));
  pid_t launcher = spawn_process({kTrainer, "--nproc-per-node", "2", "--config", dir / "c.yaml"},
                                 dir / "job.log", /*new_group=*/true);
  ASSERT_TRUE(wait_until([&] { return fs::exists(dir / "runs/run/metrics.jsonl"); }, 120));
  // The launcher's children are the ranks; kill one of them.
  std::string children = read_text("/proc/" + std::to_string(launcher) + "/task/" +
                                   std::to_string(launcher) + "/children");
  std::istringstream in(children);
  pid_t rank_pid = 0, other = 0;
  in >> rank_pid >> other;
  ASSERT_GT(rank_pid, 0) << children;
  const auto killed_at = std::chrono::steady_clock::now();
  kill(rank_pid, SIGKILL);
  const int code = wait_process(launcher);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  kill(-launcher, SIGKILL);  // in case anything is left
  const std::string log = read_text(dir / "job.log");
  EXPECT_NE(code, 0) << log;
  EXPECT_LT(seconds, 60) << log;
  EXPECT_NE(log.find("exited with code 137; stopping the other ranks"), std::string::npos) << log;
  EXPECT_NE(log.find("lost contact with the other ranks"), std::string::npos) << log;
}

TEST(DataParallel, AHungRankMakesTheOthersFailAfterTheTimeout) {
  // A stopped rank answers nothing: the others give up after
  // distributed.timeout_s, and the launcher ends the job.
  TempDir dir;
  write_text(dir / "c.yaml", config(dir / "runs", 100000, "distributed: {timeout_s: 3}\n"));
  pid_t launcher = spawn_process({kTrainer, "--nproc-per-node", "2", "--config", dir / "c.yaml"},
                                 dir / "job.log", /*new_group=*/true);
  ASSERT_TRUE(wait_until([&] { return fs::exists(dir / "runs/run/metrics.jsonl"); }, 120));
  std::istringstream in(read_text("/proc/" + std::to_string(launcher) + "/task/" +
                                  std::to_string(launcher) + "/children"));
  pid_t first = 0, second = 0;
  in >> first >> second;
  ASSERT_GT(second, 0);
  const auto stopped_at = std::chrono::steady_clock::now();
  kill(second, SIGSTOP);
  const int code = wait_process(launcher);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped_at).count();
  kill(-launcher, SIGKILL);
  const std::string log = read_text(dir / "job.log");
  EXPECT_NE(code, 0) << log;
  EXPECT_GT(seconds, 2.5) << log;  // not before the timeout
  EXPECT_LT(seconds, 25) << log;   // and not much after it
  EXPECT_NE(log.find("hung longer than distributed.timeout_s = 3 s"), std::string::npos) << log;
}

// Two hosts on one machine: network namespaces "<prefix>a" (10.77.0.1,
// named nodea) and "<prefix>b" (10.77.0.2, nodeb) joined by a veth link. Each
// sees only its own /etc/netns/<name>/hosts, which names the two nodes and
// not the machine's hostname. Needs root (CAP_NET_ADMIN); `usable` says
// whether it could be made.
class TwoHosts {
 public:
  TwoHosts()
      : a_("sb" + std::to_string(getpid()) + "a"), b_("sb" + std::to_string(getpid()) + "b") {
    const std::string hosts = "127.0.0.1 localhost\n10.77.0.1 nodea\n10.77.0.2 nodeb\n";
    std::error_code ec;
    for (const auto& ns : {a_, b_}) {
      run_process({"ip", "netns", "del", ns});  // left by a killed run with our pid
      fs::create_directories("/etc/netns/" + ns, ec);
      if (ec) {
        why_ = "cannot write /etc/netns: " + ec.message();
        return;
      }
      write_text("/etc/netns/" + ns + "/hosts", hosts);
    }
    const std::vector<std::vector<std::string>> steps = {
        {"ip", "netns", "add", a_},
        {"ip", "netns", "add", b_},
        {"ip", "link", "add", a_, "type", "veth", "peer", "name", b_},
        {"ip", "link", "set", a_, "netns", a_},
        {"ip", "link", "set", b_, "netns", b_},
        {"ip", "-n", a_, "addr", "add", "10.77.0.1/24", "dev", a_},
        {"ip", "-n", b_, "addr", "add", "10.77.0.2/24", "dev", b_},
        {"ip", "-n", a_, "link", "set", "lo", "up"},
        {"ip", "-n", b_, "link", "set", "lo", "up"},
        {"ip", "-n", a_, "link", "set", a_, "up"},
        {"ip", "-n", b_, "link", "set", b_, "up"}};
    for (const auto& step : steps) {
      auto r = run_process(step);
      if (r.exit_code != 0) {
        why_ =
            "'" + step[0] + " " + step[1] + " " + step[2] + " " + step[3] + "' failed: " + r.output;
        return;
      }
    }
    usable_ = true;
  }
  ~TwoHosts() {
    for (const auto& ns : {a_, b_}) {
      run_process({"ip", "netns", "del", ns});  // also removes the veth pair
      std::error_code ec;
      fs::remove_all("/etc/netns/" + ns, ec);
    }
  }
  bool usable() const { return usable_; }
  // The network interface of host 0 or 1 (named like its namespace).
  const std::string& interface(int host) const { return host == 0 ? a_ : b_; }
  const std::string& why() const { return why_; }
  // argv run on host 0 (nodea) or 1 (nodeb) with extra environment variables.
  std::vector<std::string> on(int host, const std::vector<std::string>& env,
                              const std::vector<std::string>& argv) const {
    std::vector<std::string> full = {"ip", "netns", "exec", interface(host), "env"};
    full.insert(full.end(), env.begin(), env.end());
    full.insert(full.end(), argv.begin(), argv.end());
    return full;
  }
  // Bytes host 0's end of the link has sent.
  int64_t bytes_sent_by_a() const {
    auto r = run_process(
        {"ip", "netns", "exec", a_, "cat", "/sys/class/net/" + a_ + "/statistics/tx_bytes"});
    return r.exit_code == 0 ? std::stoll(r.output) : -1;
  }

 private:
  std::string a_, b_, why_;
  bool usable_ = false;
};

TEST(DataParallel, TwoHostsOverANetworkLinkFollowTheOneRankCurve) {
  TwoHosts hosts;
  if (!hosts.usable()) GTEST_SKIP() << "no network namespaces here: " << hosts.why();
  TempDir dir;
  write_text(dir / "one.yaml", config(dir / "one", 20));
  auto one = run_process({kTrainer, "--config", dir / "one.yaml"});
  ASSERT_EQ(one.exit_code, 0) << one.output;

  // Slurm's variables (the rendezvous host is the node list's first host,
  // resolved on each node), then torchrun's with GLOO_SOCKET_IFNAME naming
  // each host's interface.
  const std::vector<std::vector<std::string>> envs_by_launcher[] = {
      {{"SLURM_NTASKS=2", "SLURM_PROCID=0", "SLURM_LOCALID=0", "SLURM_JOB_NODELIST=node[a-b]",
        "SLURM_JOB_ID=4242"},
       {"SLURM_NTASKS=2", "SLURM_PROCID=1", "SLURM_LOCALID=0", "SLURM_JOB_NODELIST=node[a-b]",
        "SLURM_JOB_ID=4242"}},
      {{"WORLD_SIZE=2", "RANK=0", "LOCAL_RANK=0", "MASTER_ADDR=nodea", "MASTER_PORT=29517",
        "GLOO_SOCKET_IFNAME=" + hosts.interface(0)},
       {"WORLD_SIZE=2", "RANK=1", "LOCAL_RANK=0", "MASTER_ADDR=nodea", "MASTER_PORT=29517",
        "GLOO_SOCKET_IFNAME=" + hosts.interface(1)}}};
  const std::string expected_transport[] = {"Gloo on 10.77.0.1 (the route to nodea)",
                                            "Gloo on GLOO_SOCKET_IFNAME=" + hosts.interface(0)};
  for (int launcher = 0; launcher < 2; ++launcher) {
    SCOPED_TRACE(launcher == 0 ? "Slurm variables" : "torchrun variables + GLOO_SOCKET_IFNAME");
    const std::string name = "two" + std::to_string(launcher);
    write_text(dir / (name + ".yaml"), config(dir / name, 20, "distributed: {timeout_s: 30}\n"));
    const int64_t sent_before = hosts.bytes_sent_by_a();
    std::vector<pid_t> pids;
    for (int host = 0; host < 2; ++host) {
      pids.push_back(spawn_process(hosts.on(host, envs_by_launcher[launcher][host],
                                            {kTrainer, "--config", dir / (name + ".yaml")}),
                                   dir / (name + std::to_string(host) + ".log"),
                                   /*new_group=*/true));
    }
    for (int host = 0; host < 2; ++host) {
      EXPECT_EQ(wait_process(pids[host]), 0)
          << read_text(dir / (name + std::to_string(host) + ".log"));
    }
    const std::string log0 = read_text(dir / (name + "0.log"));
    EXPECT_NE(log0.find("data parallel: 2 ranks"), std::string::npos) << log0;
    EXPECT_NE(log0.find(expected_transport[launcher]), std::string::npos) << log0;
    expect_same_curves(dir / "one/run", dir / (name + "/run"), 1e-5);
    // The gradients crossed the link: 20 steps of all-reduces of ~27k floats.
    EXPECT_GT(hosts.bytes_sent_by_a() - sent_before, 20 * 27000 * 4) << log0;
  }
}

TEST(DataParallel, RanksThatCannotReachEachOtherFailWithinTwiceTheTimeout) {
  // Both ranks listen on loopback (GLOO_SOCKET_IFNAME=lo) on different hosts:
  // the store connects, Gloo's connect cannot. One rank fails at once; its
  // peer waited in Gloo's connect for about 5x the timeout (25 s at 5 s)
  // before the join deadline of 2x.
  TwoHosts hosts;
  if (!hosts.usable()) GTEST_SKIP() << "no network namespaces here: " << hosts.why();
  TempDir dir;
  write_text(dir / "c.yaml", config(dir / "runs", 20, "distributed: {timeout_s: 5}\n"));
  const auto started = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  for (int host = 0; host < 2; ++host) {
    pids.push_back(
        spawn_process(hosts.on(host,
                               {"WORLD_SIZE=2", "RANK=" + std::to_string(host), "LOCAL_RANK=0",
                                "MASTER_ADDR=nodea", "MASTER_PORT=29518", "GLOO_SOCKET_IFNAME=lo"},
                               {kTrainer, "--config", dir / "c.yaml"}),
                      dir / ("rank" + std::to_string(host) + ".log"), /*new_group=*/true));
  }
  std::string logs;
  for (int host = 0; host < 2; ++host) {
    const int code = wait_process(pids[host]);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const std::string log = read_text(dir / ("rank" + std::to_string(host) + ".log"));
    EXPECT_NE(code, 0) << log;
    EXPECT_LT(seconds, 20) << log;
    logs += log;
  }
  EXPECT_NE(logs.find("could not connect the process group (Gloo on GLOO_SOCKET_IFNAME=lo)"),
            std::string::npos)
      << logs;
  EXPECT_NE(logs.find("could not join the other ranks within 2 x distributed.timeout_s = 10 s"),
            std::string::npos)
      << logs;
}

}  // namespace
}  // namespace scalebed
