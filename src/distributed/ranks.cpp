// Rank discovery from torchrun or Slurm environment variables.
#include "distributed/ranks.h"

#include <cstdlib>

#include "util/error.h"

namespace scalebed {
namespace {

int read_int(const std::function<const char*(const char*)>& getenv, const char* name,
             int fallback) {
  const char* v = getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0) fail_at(name, "expected a non-negative integer, got '", v, "'");
  return static_cast<int>(x);
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
