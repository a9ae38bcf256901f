// `trainer`: the command-line entry point. Parses arguments and hands over to
// train/ (training, --dry-run) or data/ (prepare); exit codes are train.h's.
#include <torch/torch.h>

#include <unistd.h>

#include <climits>
#include <cstring>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/prepare.h"
#include "distributed/launcher.h"
#include "sweep/command.h"
#include "sweep/sweep.h"
#include "train/export.h"
#include "train/train.h"
#include "util/error.h"
#include "util/parse.h"
#include "util/signals.h"

namespace {

const char* kUsage =
    R"(trainer: train autoregressive and discrete-diffusion transformers for scaling studies

usage:
  trainer --config RUN.yaml [--set key.path=value ...] [--init-from DIR]
          [--dry-run [--world-size N]]
  trainer prepare --input TEXT [--input TEXT ...] --out DIR
                  [--tokenizer byte|MODEL.model] [--val-fraction 0.05] [--shard-tokens N]
                  [--eos]   (each input file one document, ended by the tokenizer's EOS id)
  trainer sample --run RUN_DIR [--num 4] [--length T] [--temperature 1.0] [--seed 0]
                 [--steps 128] [--sampler ancestral|adaptive] [--grid cosine|linear]
                 [--prompt TEXT]   (diffusion: steps/sampler/grid; AR: prompt)
  trainer export --run RUN_DIR --out DIR [--step N] [--format safetensors]
                 (weights as safetensors + config.json; python/scalebed_model.py loads them)
  trainer --nproc-per-node K --config RUN.yaml [...]   (K data-parallel ranks on this machine)
  trainer --config SWEEP.yaml [--list | --status | --index I | --claim-next | --slurm | --collect]
  trainer --help | --help-config

options:
  --config FILE     run config (YAML; `base:` inherits from other files, relative paths)
  --set K=V         override one config key, e.g. --set model.d_model=128 (repeatable)
  --init-from DIR   start a fresh run from the weights of a `trainer export` folder (the same
                    as --set model.init_from=DIR; names and shapes must match the model)
  --dry-run         validate, print the resolved config, parameter counts, FLOPs per token
                    under each convention, tokens, steps and a memory estimate; write nothing
  --world-size N    with --dry-run: the estimate per rank of N data-parallel ranks (with the
                    config's distributed.shard), and the fewest ranks each shard mode needs
  --help-config     list every config key with its type, default and meaning
  --nproc-per-node K  start K ranks of this command (Gloo on CPU, NCCL with one GPU per rank,
                    rank k on cuda:k); K = 1 still joins a process group, as under torchrun;
                    under torchrun or srun, ranks come from RANK/WORLD_SIZE/... or SLURM_PROCID/...;
                    Gloo listens on GLOO_SOCKET_IFNAME's interfaces, else on the route to MASTER_ADDR

The run directory (out_dir/name) receives config.yaml, metrics.jsonl, summary.json,
checkpoints/, log.txt and finally DONE. Rerunning the same command resumes from the newest
complete checkpoint, or does nothing when DONE exists.

%s
exit codes: 0 done | 1 error (message names file:line/key) | 2 bad command line |
            3 non-finite loss or gradient (last good checkpoint kept) |
            75 stopped by SIGTERM/SIGUSR1/SIGINT after checkpointing (requeue to resume)
)";

using scalebed::UsageError;

using scalebed::integer_flag;
using scalebed::real_flag;

std::string self_executable(const char* argv0) {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string(argv0);
}

// Trains one run in this process (the sweep scheduler's TrainFn).
int train_run(const scalebed::RunConfig& cfg) {
  auto training = scalebed::build_training(cfg, scalebed::BuildMode::kTrain);
  return scalebed::run_training(*training);
}

int run_sweep(const std::string& sweep_file, const std::vector<std::string>& args,
              const char* argv0) {
  scalebed::SweepHooks hooks;
  hooks.train = train_run;
  hooks.trainer = self_executable(argv0);
  hooks.gpus = static_cast<int>(torch::cuda::device_count());
  hooks.stop_requested = [] { return scalebed::stop_signal() != 0; };
  scalebed::install_stop_signal_handlers();
  return scalebed::sweep_command(sweep_file, args, hooks, std::cout);
}

int usage_error(const std::string& message) {
  std::cerr << "trainer: " << message << "\n(run trainer --help for usage)\n";
  return scalebed::kExitUsage;
}

// The value after the flag args[i] (i moves onto it), or a usage error naming the flag.
std::string flag_value(const std::vector<std::string>& args, size_t& i) {
  if (i + 1 >= args.size()) throw UsageError(args[i] + ": needs a value");
  return args[++i];
}

int run_prepare(const std::vector<std::string>& args) {
  scalebed::PrepareOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string flag = args[i];
    auto value = [&] { return flag_value(args, i); };
    if (args[i] == "--input") {
      o.inputs.push_back(value());
    } else if (args[i] == "--out") {
      o.out_dir = value();
    } else if (args[i] == "--tokenizer") {
      o.tokenizer = value();
    } else if (args[i] == "--val-fraction") {
      o.val_fraction = real_flag(flag, value());
    } else if (args[i] == "--shard-tokens") {
      o.shard_tokens = integer_flag(flag, value(), 1);
    } else if (args[i] == "--eos") {
      o.eos = true;
    } else {
      return usage_error("prepare: unknown argument '" + args[i] + "'");
    }
  }
  auto r = scalebed::prepare_shards(o);
  std::cout << "wrote " << r.files.size() << " shards to " << o.out_dir << ": " << r.train_tokens
            << " train + " << r.val_tokens << " val tokens, vocab " << r.vocab << "\n"
            << "train with: data.source: tokens, data.path: " << o.out_dir
            << "/train_*.bin, data.val_path: " << o.out_dir
            << "/val_*.bin, model.vocab: " << r.vocab << "\n";
  return scalebed::kExitOk;
}

int run_sample(const std::vector<std::string>& args) {
  std::string run_dir, prompt;
  scalebed::SampleOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    auto value = [&] { return flag_value(args, i); };
    const std::string& a = args[i];
    if (a == "--run") {
      run_dir = value();
    } else if (a == "--num") {
      o.num = integer_flag(a, value(), 1);
    } else if (a == "--length") {
      o.length = integer_flag(a, value(), 1);
    } else if (a == "--steps") {
      o.steps = integer_flag(a, value(), 1);
    } else if (a == "--sampler") {
      o.sampler = value();
    } else if (a == "--grid") {
      o.grid = value();
    } else if (a == "--temperature") {
      o.temperature = real_flag(a, value());
    } else if (a == "--seed") {
      o.seed = static_cast<uint64_t>(integer_flag(a, value(), 0));
    } else if (a == "--prompt") {
      prompt = value();
    } else {
      return usage_error("sample: unknown argument '" + a + "'");
    }
  }
  if (run_dir.empty()) return usage_error("sample: --run RUN_DIR is required");
  if (o.sampler != "ancestral" && o.sampler != "adaptive") {
    return usage_error("sample: --sampler must be ancestral or adaptive");
  }
  if (o.grid != "cosine" && o.grid != "linear")
    return usage_error("sample: --grid must be cosine or linear");
  if (o.num < 1 || o.steps < 1 || o.length < 0)
    return usage_error("sample: --num and --steps must be >= 1");
  for (const auto& line : scalebed::sample_from_run(run_dir, o, prompt)) {
    std::cout << line << "\n----\n";
  }
  return scalebed::kExitOk;
}

int run_export(const std::vector<std::string>& args) {
  std::string run_dir, out_dir, format = "safetensors";
  std::optional<int64_t> step;
  for (size_t i = 0; i < args.size(); ++i) {
    auto value = [&] { return flag_value(args, i); };
    const std::string& a = args[i];
    if (a == "--run") {
      run_dir = value();
    } else if (a == "--out") {
      out_dir = value();
    } else if (a == "--step") {
      step = integer_flag(a, value(), 0);
    } else if (a == "--format") {
      format = value();
    } else {
      return usage_error("export: unknown argument '" + a + "'");
    }
  }
  if (run_dir.empty() || out_dir.empty()) {
    return usage_error("export: --run RUN_DIR and --out DIR are required");
  }
  if (format != "safetensors") return usage_error("export: --format must be safetensors");
  const std::string checkpoint = scalebed::export_run(run_dir, step, out_dir);
  std::cout << "exported " << checkpoint << " to " << out_dir
            << "/ (model.safetensors, config.json); load it in Python with "
               "python/scalebed_model.py\n";
  return scalebed::kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  scalebed::stop_with_launcher();  // a rank of --nproc-per-node dies with its launcher
  try {
    // The local launcher: this same command, K times, as ranks of one job.
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--nproc-per-node") {
        if (i + 1 >= args.size()) return usage_error("--nproc-per-node needs a value");
        const auto nproc = static_cast<int>(integer_flag(args[i], args[i + 1], 1, 1024));
        std::vector<std::string> rest(args.begin(), args.begin() + i);
        rest.insert(rest.end(), args.begin() + i + 2, args.end());
        for (size_t j = 0; j + 1 < rest.size(); ++j) {
          if (rest[j] == "--config" && scalebed::is_sweep_file(rest[j + 1])) {
            return usage_error("--nproc-per-node runs one config; sweeps do not take it yet");
          }
        }
        return scalebed::launch_local_ranks(self_executable(argv[0]), rest, nproc, std::cout);
      }
    }
    if (!args.empty() && args[0] == "sample") {
      return run_sample(std::vector<std::string>(args.begin() + 1, args.end()));
    }
    if (!args.empty() && args[0] == "export") {
      return run_export(std::vector<std::string>(args.begin() + 1, args.end()));
    }
    if (!args.empty() && args[0] == "prepare") {
      return run_prepare(std::vector<std::string>(args.begin() + 1, args.end()));
    }
    // A sweep file takes the sweep scheduler's flags (sweep/command.h).
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--config" && scalebed::is_sweep_file(args[i + 1])) {
        std::vector<std::string> rest(args.begin(), args.begin() + i);
        rest.insert(rest.end(), args.begin() + i + 2, args.end());
        return run_sweep(args[i + 1], rest, argv[0]);
      }
    }
    std::string config_path;
    std::vector<std::string> overrides;
    bool dry_run = false;
    int64_t planned_world = 0;
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      if (a == "--help" || a == "-h") {
        std::printf(kUsage, scalebed::kSweepUsage);
        return scalebed::kExitOk;
      } else if (a == "--help-config") {
        std::cout << "config keys:\n" << scalebed::describe_config_schema();
        return scalebed::kExitOk;
      } else if (a == "--config" || a == "--set") {
        if (i + 1 >= args.size()) return usage_error(a + " needs a value");
        (a == "--config" ? config_path = args[++i] : (overrides.push_back(args[++i]), config_path));
      } else if (a == "--init-from") {
        if (i + 1 >= args.size()) return usage_error(a + " needs a value");
        overrides.push_back("model.init_from=" + args[++i]);
      } else if (a.rfind("--config=", 0) == 0) {
        config_path = a.substr(9);
      } else if (a.rfind("--set=", 0) == 0) {
        overrides.push_back(a.substr(6));
      } else if (a == "--dry-run") {
        dry_run = true;
      } else if (a == "--world-size") {
        const auto n = i + 1 < args.size() ? scalebed::parse_integer(args[i + 1]) : std::nullopt;
        if (!n || *n < 1 || *n > 65536) {
          return usage_error("--world-size needs a number of ranks in [1, 65536]");
        }
        planned_world = *n;
        ++i;
      } else if (a == "--list" || a == "--status" || a == "--index" || a == "--claim-next" ||
                 a == "--slurm" || a == "--collect" || a == "--jobs" || a == "--retry-failed") {
        return usage_error(a + " applies to sweep files (configs with `grid` or `zip`)");
      } else {
        return usage_error("unknown argument '" + a + "'");
      }
    }
    if (config_path.empty()) return usage_error("--config FILE is required");
    if (planned_world > 0 && !dry_run) {
      return usage_error(
          "--world-size plans a --dry-run; ranks are started by --nproc-per-node, "
          "torchrun or srun");
    }

    // First: a signal while the config loads and the model builds (about
    // 0.3 s) killed the process without a word.
    if (!dry_run) scalebed::install_stop_signal_handlers();
    const auto cfg = scalebed::load_run_config(config_path, overrides);
    auto training = scalebed::build_training(
        cfg, dry_run ? scalebed::BuildMode::kDryRun : scalebed::BuildMode::kTrain, planned_world);
    if (dry_run) {
      scalebed::print_dry_run(*training, std::cout);
      return scalebed::kExitOk;
    }
    return scalebed::run_training(*training);
  } catch (const UsageError& e) {
    return usage_error(e.what());
  } catch (const scalebed::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return scalebed::kExitError;
  } catch (const c10::Error& e) {
    std::cerr << "error (LibTorch): " << e.what_without_backtrace() << "\n";
    return scalebed::kExitError;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return scalebed::kExitError;
  }
}
