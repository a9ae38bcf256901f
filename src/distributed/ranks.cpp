// Rank discovery from torchrun or Slurm environment variables.
#include "distributed/ranks.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "util/error.h"
#include "util/parse.h"

namespace scalebed {
namespace {

int read_int(const std::function<const char*(const char*)>& getenv, const char* name,
             int fallback) {
  const char* v = getenv(name);
  if (!v || !*v) return fallback;
  // Past INT_MAX the value would wrap (4294967297 ranks read as 1).
  const auto x = parse_integer(v);
  if (!x || *x < 0 || *x > std::numeric_limits<int>::max()) {
    fail_at(name, "expected a non-negative integer below 2^31, got '", v, "'");
  }
  return static_cast<int>(*x);
}

}  // namespace

std::string first_slurm_host(const std::string& nodelist) {
  // The first entry ends at a comma outside brackets.
  size_t depth = 0, end = nodelist.size();
  for (size_t i = 0; i < nodelist.size(); ++i) {
    if (nodelist[i] == '[') ++depth;
    if (nodelist[i] == ']') --depth;
    if (nodelist[i] == ',' && depth == 0) {
      end = i;
      break;
    }
  }
  const std::string first = nodelist.substr(0, end);
  const size_t open = first.find('[');
  if (open == std::string::npos) return first;
  // prefix[01-03,07] -> prefix01
  std::string range = first.substr(open + 1);
  const size_t stop = range.find_first_of("-,]");
  return first.substr(0, open) + range.substr(0, stop);
}

std::string local_address_towards(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(host.c_str(), "9", &hints, &found); rc != 0) {
    fail_at(host, "cannot resolve the rendezvous host: ", gai_strerror(rc));
  }
  std::string error = "no address";
  std::string local;
  for (addrinfo* a = found; a && local.empty(); a = a->ai_next) {
    // Connecting a UDP socket sends nothing; it only picks the route.
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    sockaddr_storage self{};
    socklen_t len = sizeof self;
    char text[INET6_ADDRSTRLEN] = {0};
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len) == 0) {
      const void* raw =
          self.ss_family == AF_INET6
              ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6&>(self).sin6_addr)
              : static_cast<const void*>(&reinterpret_cast<sockaddr_in&>(self).sin_addr);
      if (inet_ntop(self.ss_family, raw, text, sizeof text)) local = text;
    } else {
      error = std::strerror(errno);
    }
    close(fd);
  }
  freeaddrinfo(found);
  if (local.empty()) fail_at(host, "no route from this machine to the rendezvous host: ", error);
  return local;
}

RankInfo discover_ranks(const std::function<const char*(const char*)>& getenv) {
  RankInfo r;
  if (getenv("WORLD_SIZE") && getenv("RANK")) {
    r.source = "torchrun";
    r.world = read_int(getenv, "WORLD_SIZE", 1);
    r.rank = read_int(getenv, "RANK", 0);
    r.local_rank = read_int(getenv, "LOCAL_RANK", r.rank);
    if (const char* a = getenv("MASTER_ADDR")) r.master_addr = a;
    r.master_port = read_int(getenv, "MASTER_PORT", r.master_port);
  } else if (getenv("SLURM_NTASKS") && getenv("SLURM_PROCID") &&
             read_int(getenv, "SLURM_NTASKS", 1) > 1) {
    r.source = "slurm";
    r.world = read_int(getenv, "SLURM_NTASKS", 1);
    r.rank = read_int(getenv, "SLURM_PROCID", 0);
    r.local_rank = read_int(getenv, "SLURM_LOCALID", 0);
    const char* nodes = getenv("SLURM_JOB_NODELIST");
    if (!nodes) nodes = getenv("SLURM_NODELIST");
    if (const char* a = getenv("MASTER_ADDR")) {
      r.master_addr = a;
    } else if (nodes) {
      r.master_addr = first_slurm_host(nodes);
    }
    // One port per job, so that jobs sharing a node do not collide.
    r.master_port =
        read_int(getenv, "MASTER_PORT", 20000 + read_int(getenv, "SLURM_JOB_ID", 0) % 20000);
  } else {
    return r;
  }
  if (r.world < 1) fail_at("WORLD_SIZE", "must be >= 1");
  if (r.rank >= r.world) {
    fail_at(r.source == "slurm" ? "SLURM_PROCID" : "RANK", "rank ", r.rank,
            " is outside a world of ", r.world);
  }
  if (r.master_port < 1 || r.master_port > 65535) fail_at("MASTER_PORT", "must be in 1-65535");
  return r;
}

RankInfo discover_ranks() {
  return discover_ranks([](const char* name) { return std::getenv(name); });
}

}  // namespace scalebed
