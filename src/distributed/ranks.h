// Who this process is in a data-parallel job: rank, world size, local rank
// and where the rendezvous store listens, from torchrun's variables (RANK,
// WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), from Slurm's
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the first host of
// SLURM_JOB_NODELIST), or a single process. No LibTorch here.
#pragma once

#include <functional>
#include <string>

namespace scalebed {

struct RankInfo {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string source = "single process";  // torchrun | slurm | single process
  // Whether to join a process group. A torchrun-style launch (torchrun, or
  // `trainer --nproc-per-node K`) joins one even as a world of one rank, as
  // PyTorch's DDP does: the same code path for 1 and K ranks (and the only way
  // to run NCCL on a machine with one GPU). One Slurm task does not: every
  // task of a sweep's job array is one.
  bool distributed() const { return world > 1 || source == "torchrun"; }
};

// `getenv` is injectable for tests. Throws Error naming the variable when
// the variables are inconsistent (rank outside the world, bad numbers).
RankInfo discover_ranks(const std::function<const char*(const char*)>& getenv);
RankInfo discover_ranks();

// "node[01-03,07],gpu5" -> "node01"; "a,b" -> "a".
std::string first_slurm_host(const std::string& nodelist);

// The numeric address of this machine's interface on the route to `host`
// (resolved as the rendezvous resolves it): where Gloo should listen so that
// the other ranks reach this one over the network the rendezvous uses. The
// machine's hostname is no guide: on clusters and in containers it often
// resolves to a loopback or management address. Throws Error naming `host`.
std::string local_address_towards(const std::string& host);

}  // namespace scalebed
