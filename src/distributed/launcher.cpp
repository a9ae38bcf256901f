// Starting and supervising the ranks of a single-machine job.
#include "distributed/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <ostream>
#include <thread>

#include "util/claim.h"
#include "util/error.h"
#include "util/exit_codes.h"
#include "util/log.h"
#include "util/signals.h"

extern char** environ;

namespace scalebed {
namespace {
constexpr const char* kLauncherPid = "SCALEBED_LAUNCHER_PID";
}  // namespace

void stop_with_launcher() {
  const char* launcher = std::getenv(kLauncherPid);
  if (!launcher) return;
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  // The launcher may have died before the request: then nothing would come.
  if (std::to_string(::getppid()) != launcher) {
    std::fprintf(stderr, "error: the launcher (pid %s) is gone; this rank stops\n", launcher);
    std::exit(kExitError);
  }
}

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    fail_at("--nproc-per-node", "cannot find a free local port: ", std::strerror(errno));
  }
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

int launch_local_ranks(const std::string& trainer, const std::vector<std::string>& args, int nproc,
                       std::ostream& out, double grace_s) {
  const int port = free_local_port();
  std::map<pid_t, int> ranks;  // pid -> rank
  for (int rank = 0; rank < nproc; ++rank) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      const std::string v = *e;
      bool ours = false;
      for (const char* k : {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE=",
                            "MASTER_ADDR=", "MASTER_PORT=", "SCALEBED_LAUNCHER_PID="}) {
        ours = ours || v.rfind(k, 0) == 0;
      }
      if (!ours) env.push_back(v);
    }
    env.push_back("RANK=" + std::to_string(rank));
    env.push_back("LOCAL_RANK=" + std::to_string(rank));
    env.push_back("WORLD_SIZE=" + std::to_string(nproc));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(nproc));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back("MASTER_PORT=" + std::to_string(port));
    env.push_back(std::string(kLauncherPid) + "=" + std::to_string(::getpid()));
    std::vector<std::string> argv_s = {trainer};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv, envp;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    // A process group of its own: a terminal's SIGINT goes to the launcher's
    // group only and reaches the rank once, forwarded below (sent to both, the
    // rank saw a second Ctrl-C and exited 130 without a checkpoint).
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    const int err = posix_spawn(&pid, trainer.c_str(), nullptr, &attr, argv.data(), envp.data());
    posix_spawnattr_destroy(&attr);
    if (err != 0) fail_at(trainer, "cannot start rank ", rank, ": ", std::strerror(err));
    ranks[pid] = rank;
  }
  out << "[launcher] started " << nproc << " ranks (rendezvous 127.0.0.1:" << port << ")\n"
      << std::flush;

  StopSignals signals;  // passed on to the ranks, not acted on here

  int result = kExitOk;
  bool stopping = false, interrupted = false;
  auto stop_started = std::chrono::steady_clock::now();
  while (!ranks.empty()) {
    if (const int sig = signals.take()) {
      for (const auto& [pid, rank] : ranks) ::kill(pid, sig);
    }
    // A sweep worker whose point was taken over elsewhere (util/claim.h): the
    // ranks must not write another line, so no SIGTERM (it checkpoints).
    if (!stopping) {
      if (auto why = claim_lost()) {
        out << "[launcher] " << *why << "; killing the ranks (no checkpoint)\n" << std::flush;
        for (const auto& [pid, rank] : ranks) {
          ::kill(pid, SIGKILL);
          ::kill(pid, SIGCONT);
        }
        result = kExitError;
        stopping = true;
        stop_started = std::chrono::steady_clock::now();
      }
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0 && ranks.count(pid)) {
      const int rank = ranks[pid];
      ranks.erase(pid);
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (code == kExitInterrupted) interrupted = true;
      if (code != kExitOk && code != kExitInterrupted && !stopping) {
        out << "[launcher] rank " << rank << " exited with code " << code
            << "; stopping the other ranks\n"
            << std::flush;
        result = WIFEXITED(status) ? code : kExitError;
        stopping = true;
        stop_started = std::chrono::steady_clock::now();
        for (const auto& [other, r] : ranks) {
          ::kill(other, SIGTERM);
          ::kill(other, SIGCONT);  // a stopped (hung) rank must run to see the SIGTERM
        }
      }
      continue;
    }
    if (stopping && seconds_since(stop_started) > grace_s) {
      for (const auto& [other, r] : ranks) ::kill(other, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (result != kExitOk) return result;
  return interrupted ? kExitInterrupted : kExitOk;
}

int launch_slurm_ranks(const std::string& trainer, const std::vector<std::string>& args, int nproc,
                       std::ostream& out) {
  std::vector<std::string> argv_s = {"srun", "--ntasks=" + std::to_string(nproc),
                                     "--kill-on-bad-exit=1", trainer};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawnp(&pid, "srun", nullptr, nullptr, argv.data(), environ);
  if (err != 0) fail_at("srun", "cannot start: ", std::strerror(err));
  out << "[launcher] srun started " << nproc << " ranks\n" << std::flush;

  StopSignals signals;  // passed on to the ranks, not acted on here
  int status = 0;
  while (true) {
    if (const int sig = signals.take()) ::kill(pid, sig);
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : kExitError;
}

}  // namespace scalebed
