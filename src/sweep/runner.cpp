// Point execution: under a lock, with the attempt recorded, failures marked.
#include "sweep/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <map>
#include <ostream>
#include <set>
#include <thread>

#include "sweep/eta.h"
#include "sweep/registry.h"
#include "train/run_dir.h"
#include "util/claim.h"
#include "util/error.h"
#include "util/exit_codes.h"
#include "util/log.h"
#include "util/signals.h"

extern char** environ;

namespace scalebed {
namespace fs = std::filesystem;
namespace {

// Runs a point whose lock we hold.
int run_locked(const SweepSpec& spec, const SweepPoint& point, const TrainFn& train,
               std::ostream& out) {
  out << "[sweep] point " << point.index << ": " << point.name << "\n" << std::flush;
  record_attempt(spec, point, "start");
  int rc = kExitError;
  bool recorded = false;  // a failure reason written for this attempt
  try {
    rc = train(point.config);
    // Ranks in other processes (a multi-rank point) stop without a
    // ClaimLostError here: the claim says so itself.
    check_claim("recording the point's end");
  } catch (const ClaimLostError& e) {
    // Another worker took the point over while this one was frozen: it owns
    // the point's records now, so none are written here.
    out << "[sweep] point " << point.index << " left to the worker that took it over: " << e.what()
        << "\n"
        << std::flush;
    return kExitError;
  } catch (const std::exception& e) {
    out << "[sweep] point " << point.index << " failed: " << e.what() << "\n";
    rc = kExitError;
    try {
      mark_failed(point, e.what());
      recorded = true;
    } catch (const std::exception& again) {  // e.g. the same full disk: the worker goes on
      out << "[sweep] point " << point.index << ": cannot record the failure: " << again.what()
          << "\n";
    }
  }
  try {
    // The reason recorded above is kept (the point still counts as running
    // while this worker holds its lock, so the status alone cannot tell).
    if (!recorded && rc != kExitOk && rc != kExitInterrupted && rc != kExitNonFinite &&
        point_status(spec, point).state != PointState::kFailed) {
      mark_failed(point, "trainer exited with code " + std::to_string(rc));
    }
    record_attempt(spec, point, "end", rc);
  } catch (const std::exception& e) {
    out << "[sweep] point " << point.index << ": cannot record the attempt's end: " << e.what()
        << "\n";
  }
  return rc;
}

}  // namespace

std::string devices_of_slot(int slot, int gpus_per_run, int gpus) {
  std::string devices;
  for (int g = 0; g < gpus_per_run; ++g) {
    devices += (g ? "," : "") + std::to_string((slot * gpus_per_run + g) % gpus);
  }
  return devices;
}

int run_point(const SweepSpec& spec, const SweepPoint& point, const TrainFn& train,
              bool retry_failed, std::ostream& out) {
  const PointStatus s = point_status(spec, point);
  if (s.state == PointState::kDone) {
    out << "[sweep] point " << point.index << " (" << point.name << ") is done; nothing to do\n";
    return kExitOk;
  }
  if (s.state == PointState::kFailed && !retry_failed) {
    out << "[sweep] point " << point.index << " (" << point.name << ") failed earlier: " << s.detail
        << "\n        rerun it with --retry-failed\n";
    return kExitError;
  }
  std::string holder;
  auto lock = PointLock::try_acquire(spec, point, &holder);
  if (!lock) {
    out << "[sweep] point " << point.index << " (" << point.name << ") is running elsewhere ("
        << holder << "); nothing to do\n";
    return kExitOk;
  }
  if (RunDirectory(point.dir()).is_done()) return kExitOk;  // finished while we looked
  return run_locked(spec, point, train, out);
}

int claim_points(const SweepSpec& spec, const std::vector<SweepPoint>& points, const TrainFn& train,
                 bool retry_failed, std::ostream& out, bool wait,
                 const std::function<bool()>& stop_requested) {
  std::set<int> tried;  // a point this worker ran is not run again by it
  int ran = 0, failed = 0;
  while (true) {
    bool claimed = false;
    for (const auto& p : points) {
      if (tried.count(p.index)) continue;
      const PointStatus s = point_status(spec, p);
      if (s.state == PointState::kDone || s.state == PointState::kRunning) continue;
      if (s.state == PointState::kFailed && !retry_failed) continue;
      auto lock = PointLock::try_acquire(spec, p);
      if (!lock) continue;
      if (RunDirectory(p.dir()).is_done()) continue;
      tried.insert(p.index);
      const int rc = run_locked(spec, p, train, out);
      if (rc == kExitInterrupted) return rc;
      ++ran;
      failed += rc != kExitOk;
      claimed = true;
      break;  // states changed while it ran: scan again from the first point
    }
    if (claimed) continue;
    bool others_running = false;
    for (const auto& p : points) {
      others_running = others_running || (!tried.count(p.index) &&
                                          point_status(spec, p).state == PointState::kRunning);
    }
    if (!wait || !others_running) break;
    // Poll until those points finish or their locks go stale.
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(
                           static_cast<int64_t>(1000 * std::max(0.5, spec.scheduler.heartbeat_s)));
    while (std::chrono::steady_clock::now() < until) {
      if (stop_requested && stop_requested()) return kExitInterrupted;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  out << "[sweep] worker " << hostname() << ":" << ::getpid() << " ran " << ran << " point(s), "
      << failed << " failed; nothing left to claim\n";
  return failed ? kExitError : kExitOk;
}

int run_local(const SweepSpec& spec, const std::vector<SweepPoint>& points,
              const LocalRunOptions& options, std::ostream& out) {
  const std::string logs = sweep_state_dir(spec) + "/logs";
  fs::create_directories(logs);
  std::deque<const SweepPoint*> queue;
  double total_flops = 0, queued_flops = 0;
  int already_done = 0;
  for (const auto& p : points) {
    total_flops += p.planned_flops_md;
    const PointStatus s = point_status(spec, p);
    if (s.state == PointState::kDone) {
      ++already_done;
    } else if (s.state == PointState::kPending ||
               (s.state == PointState::kFailed && options.retry_failed)) {
      queue.push_back(&p);
      queued_flops += p.planned_flops_md;
    }
  }
  // Longest first: the last runs to finish are then short ones, which keeps
  // all job slots busy until the end.
  std::stable_sort(queue.begin(), queue.end(), [](const SweepPoint* a, const SweepPoint* b) {
    return a->planned_flops_md > b->planned_flops_md;
  });
  const int jobs = std::max(1, options.jobs);
  out << "[sweep] " << spec.stem << ": " << points.size() << " points, " << already_done
      << " done, " << queue.size() << " to run, " << jobs << " at a time";
  if (options.gpus > 0) out << " (" << options.gpus_per_run << " GPU(s) each)";
  out << "; logs in " << logs << "\n" << std::flush;

  StopSignals signals;  // children checkpoint on the same signals; this process stops them

  struct Child {
    const SweepPoint* point;
    int slot;
    std::chrono::steady_clock::time_point started;
  };
  std::map<pid_t, Child> running;
  std::vector<bool> slot_busy(jobs, false);
  int finished = 0, failed = 0, skipped = 0;
  double finished_flops = 0;
  RunTimeModel run_time;  // from the points finished here
  auto cost = [](const SweepPoint& p) {
    return RunCost{static_cast<double>(p.config.train.steps), p.planned_flops_md};
  };
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return seconds_since(start); };
  const bool tty = ::isatty(STDOUT_FILENO);
  double last_progress = -1e9;
  auto progress = [&](bool force) {
    const double t = elapsed();
    if (!force && t - last_progress < (tty ? 1.0 : 30.0)) return;
    last_progress = t;
    char eta[64] = "ETA --";
    if (run_time.ready()) {
      std::vector<RunCost> waiting;
      for (const SweepPoint* q : queue) waiting.push_back(cost(*q));
      std::vector<RunningPoint> busy;
      for (const auto& [pid, c] : running)
        busy.push_back({cost(*c.point), seconds_since(c.started)});
      std::snprintf(eta, sizeof eta, "ETA %s",
                    format_duration(sweep_seconds_left(run_time, waiting, busy, jobs)).c_str());
    }
    char line[256];
    std::snprintf(
        line, sizeof line,
        "[sweep] %d/%zu done | %zu running | %zu queued | %d failed | %.1f%% of "
        "FLOPs | elapsed %s | %s",
        already_done + finished, points.size(), running.size(), queue.size(), failed,
        100.0 *
            (total_flops > 0 ? (total_flops - queued_flops + finished_flops) / total_flops : 1.0),
        format_duration(t).c_str(), eta);
    out << (tty ? "\r" : "") << line << (tty ? "\033[K" : "\n") << std::flush;
  };

  // A finished point is reported after its slot is refilled, so that the
  // line counts the point that replaced it as running.
  bool report = false;
  while ((!queue.empty() || !running.empty())) {
    if (signals.pending() && !queue.empty()) {
      out << "\n[sweep] signal " << signals.pending()
          << ": stopping; running points checkpoint and resume on the next run\n";
      queue.clear();
      for (const auto& [pid, c] : running) ::kill(pid, SIGTERM);
    }
    while (!signals.pending() && static_cast<int>(running.size()) < jobs && !queue.empty()) {
      const SweepPoint* p = queue.front();
      queue.pop_front();
      const PointState state = point_status(spec, *p).state;
      if (state == PointState::kDone || state == PointState::kRunning) {
        ++skipped;  // another worker got to it first
        queued_flops -= p->planned_flops_md;
        continue;
      }
      int slot = 0;
      while (slot_busy[slot]) ++slot;
      std::vector<std::string> args = {options.trainer};
      args.insert(args.end(), options.child_args.begin(), options.child_args.end());
      args.push_back("--index");
      args.push_back(std::to_string(p->index));
      if (options.retry_failed) args.push_back("--retry-failed");
      std::vector<std::string> env;
      for (char** e = environ; *e; ++e) {
        if (std::string(*e).rfind("CUDA_VISIBLE_DEVICES=", 0) != 0) env.push_back(*e);
      }
      if (options.gpus > 0) {
        env.push_back("CUDA_VISIBLE_DEVICES=" +
                      devices_of_slot(slot, options.gpus_per_run, options.gpus));
      }
      std::vector<char*> argv, envp;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      for (auto& e : env) envp.push_back(e.data());
      envp.push_back(nullptr);
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      const std::string log = logs + "/" + p->name + ".out";
      posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                       O_WRONLY | O_CREAT | O_APPEND, 0644);
      posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
      pid_t pid = 0;
      const int err =
          posix_spawn(&pid, options.trainer.c_str(), &actions, nullptr, argv.data(), envp.data());
      posix_spawn_file_actions_destroy(&actions);
      if (err != 0) fail_at(options.trainer, "cannot start: ", std::strerror(err));
      running[pid] = {p, slot, std::chrono::steady_clock::now()};
      slot_busy[slot] = true;
    }
    if (report) progress(true);
    report = false;
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      auto it = running.find(pid);
      if (it == running.end()) continue;
      const SweepPoint* p = it->second.point;
      const double took = seconds_since(it->second.started);
      slot_busy[it->second.slot] = false;
      running.erase(it);
      const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (rc == kExitOk) {
        ++finished;
        finished_flops += p->planned_flops_md;
        run_time.add_finished(cost(*p), took);
      } else if (rc != kExitInterrupted) {
        ++failed;
        if (point_status(spec, *p).state != PointState::kFailed) {
          mark_failed(*p, "trainer exited with code " + std::to_string(rc));
        }
        out << (tty ? "\n" : "") << "[sweep] point " << p->index << " (" << p->name
            << ") failed with exit code " << rc << ": " << point_status(spec, *p).detail << "\n";
      }
      report = true;
    }
    if (!report) progress(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (report) progress(true);
  if (tty) out << "\n";
  if (signals.pending()) return kExitInterrupted;
  out << "[sweep] finished " << finished << " point(s) in " << format_duration(elapsed()) << ", "
      << failed << " failed"
      << (skipped ? ", " + std::to_string(skipped) + " taken by other workers" : "") << "\n";
  return failed ? kExitError : kExitOk;
}

}  // namespace scalebed
