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

// `trainer`: the command-line entry point (CLI11, util/cli.h). Parses the
// command line and hands over to train/ (training, --dry-run), data/
// (prepare), sweep/ (sweep files) or distributed/ (--nproc-per-node); exit
// codes are util/exit_codes.h's.
#include <torch/torch.h>

#include <unistd.h>

#include <climits>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/prepare.h"
#include "distributed/launcher.h"
#include "sweep/command.h"
#include "sweep/sweep.h"
#include "train/export.h"
#include "train/train.h"
#include "util/cli.h"
#include "util/error.h"
#include "util/signals.h"

namespace {

const char* kDescription =
    R"(trainer: train autoregressive and discrete-diffusion transformers for scaling studies

usage:
  trainer [train] --config RUN.yaml [--set key.path=value ...] [--init-from DIR]
                  [--dry-run [--world-size N]]
  trainer --nproc-per-node K --config RUN.yaml [...]   (K data-parallel ranks on this machine)
  trainer --config SWEEP.yaml [--list | --status | --index I | --claim-next | --slurm | --collect]
  trainer prepare --input TEXT [--input TEXT ...] --out DIR [...]
  trainer sample --run RUN_DIR [...]
  trainer export --run RUN_DIR --out DIR [...]
  trainer SUBCOMMAND --help | trainer --help-config
)";

const char* kFooter =
    R"(The run directory (out_dir/name) receives config.yaml, metrics.jsonl, summary.json,
checkpoints/, log.txt and finally DONE. Rerunning the same command resumes from the newest
complete checkpoint, or does nothing when DONE exists. A sweep file is a config with `grid`
or `zip` (see sweeps/quickstart.yaml).

exit codes: 0 done | 1 error (message names file:line/key) | 2 bad command line |
            3 non-finite loss or gradient (last good checkpoint kept) |
            75 stopped by SIGTERM/SIGUSR1/SIGINT after checkpointing (requeue to resume))";

using scalebed::UsageError;
namespace cli = scalebed::cli;

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

// `trainer prepare`: text files to token shards.
struct PrepareCommand {
  scalebed::PrepareOptions options;
  CLI::App* app = nullptr;
  explicit PrepareCommand(CLI::App& parent) {
    app = parent.add_subcommand("prepare", "tokenize text files into token shards for training");
    auto& o = options;
    cli::add_repeated(*app, "--input", o.inputs, "a text file (repeatable)")
        ->required()
        ->type_name("TEXT");
    app->add_option("--out", o.out_dir, "the shard folder")->required()->type_name("DIR");
    app->add_option("--tokenizer", o.tokenizer, "byte (default) or a SentencePiece MODEL.model")
        ->type_name("byte|MODEL.model");
    cli::add_real(*app, "--val-fraction", o.val_fraction,
                  "share of the inputs' bytes held out for validation, their tail\n(default 0.05)");
    cli::add_integer(*app, "--shard-tokens", o.shard_tokens, 1, INT64_MAX,
                     "tokens per shard (default 100000000)");
    app->add_flag("--eos", o.eos,
                  "each input file one document, ended by the tokenizer's end-of-document id");
  }
  int run() const {
    auto r = scalebed::prepare_shards(options);
    std::cout << "wrote " << r.files.size() << " shards to " << options.out_dir << ": "
              << r.train_tokens << " train + " << r.val_tokens << " val tokens, vocab " << r.vocab
              << "\n"
              << "train with: data.source: tokens, data.path: " << options.out_dir
              << "/train_*.bin, data.val_path: " << options.out_dir
              << "/val_*.bin, model.vocab: " << r.vocab << "\n";
    return scalebed::kExitOk;
  }
};

// `trainer sample`: text from a trained run.
struct SampleCommand {
  std::string run_dir, prompt;
  scalebed::SampleOptions options;
  CLI::App* app = nullptr;
  explicit SampleCommand(CLI::App& parent) {
    app = parent.add_subcommand("sample", "generate text from a run's newest checkpoint");
    auto& o = options;
    app->add_option("--run", run_dir, "the run directory")->required()->type_name("RUN_DIR");
    cli::add_integer(*app, "--num", o.num, 1, INT64_MAX, "samples (default 4)");
    cli::add_integer(*app, "--length", o.length, 1, INT64_MAX,
                     "tokens per sample (default: the model's context)");
    cli::add_real(*app, "--temperature", o.temperature, "softmax temperature (default 1.0)");
    cli::add_integer(*app, "--seed", o.seed, 0, INT64_MAX, "sampling seed (default 0)");
    cli::add_integer(*app, "--steps", o.steps, 1, INT64_MAX,
                     "diffusion: denoising steps (default 128)");
    app->add_option("--sampler", o.sampler, "diffusion: ancestral (default) or adaptive")
        ->check(CLI::IsMember({"ancestral", "adaptive"}));
    app->add_option("--grid", o.grid, "diffusion: the noise grid, cosine (default) or linear")
        ->check(CLI::IsMember({"cosine", "linear"}));
    app->add_option("--prompt", prompt, "AR: text to continue");
  }
  int run() const {
    for (const auto& line : scalebed::sample_from_run(run_dir, options, prompt)) {
      std::cout << line << "\n----\n";
    }
    return scalebed::kExitOk;
  }
};

// `trainer export`: a checkpoint's weights as safetensors + config.json.
struct ExportCommand {
  std::string run_dir, out_dir, format = "safetensors";
  std::optional<int64_t> step;
  CLI::App* app = nullptr;
  explicit ExportCommand(CLI::App& parent) {
    app = parent.add_subcommand("export",
                                "a checkpoint's weights as safetensors + config.json "
                                "(python/scalebed_model.py loads them)");
    app->add_option("--run", run_dir, "the run directory")->required()->type_name("RUN_DIR");
    app->add_option("--out", out_dir, "the export folder")->required()->type_name("DIR");
    cli::add_integer(*app, "--step", step, 0, INT64_MAX, "the checkpoint's step (default: newest)");
    app->add_option("--format", format, "safetensors (the only one)")
        ->check(CLI::IsMember({"safetensors"}));
  }
  int run() const {
    const std::string checkpoint = scalebed::export_run(run_dir, step, out_dir);
    std::cout << "exported " << checkpoint << " to " << out_dir
              << "/ (model.safetensors, config.json); load it in Python with "
                 "python/scalebed_model.py\n";
    return scalebed::kExitOk;
  }
};

// The trainer's own options: one run (or a sweep file) from a config.
struct TrainOptions {
  std::string config_path, init_from;
  std::vector<std::string> overrides;
  bool dry_run = false, help_config = false;
  int64_t planned_world = 0, nproc = 0;
  std::vector<CLI::Option*> given;  // every one of them, to refuse them beside a subcommand
  explicit TrainOptions(CLI::App& app) {
    given = {
        app.add_option("--config", config_path,
                       "run config (YAML; `base:` inherits from other files, relative paths),\n"
                       "or a sweep file")
            ->type_name("FILE"),
        cli::add_repeated(app, "--set", overrides,
                          "override one config key, e.g. --set model.d_model=128 (repeatable)")
            ->type_name("K=V"),
        app.add_option("--init-from", init_from,
                       "start a fresh run from the weights of a `trainer export` folder (the\n"
                       "same as --set model.init_from=DIR; names and shapes must match)")
            ->type_name("DIR"),
        app.add_flag("--dry-run", dry_run,
                     "validate, print the resolved config, parameter counts, FLOPs per token\n"
                     "under each convention, tokens, steps and a memory estimate; write\n"
                     "nothing (a sweep file: the same as --list)"),
        cli::add_integer(app, "--world-size", planned_world, 1, 65536,
                         "with --dry-run: the estimate per rank of N data-parallel ranks (with\n"
                         "the config's distributed.shard), and the fewest ranks each shard\n"
                         "mode needs")
            ->type_name("N"),
        cli::add_integer(app, "--nproc-per-node", nproc, 1, 1024,
                         "start K ranks of this command (Gloo on CPU, NCCL with one GPU per\n"
                         "rank, rank k on cuda:k); K = 1 still joins a process group, as under\n"
                         "torchrun; under torchrun or srun, ranks come from RANK/WORLD_SIZE/...\n"
                         "or SLURM_PROCID/...; Gloo listens on GLOO_SOCKET_IFNAME's\n"
                         "interfaces, else on the route to MASTER_ADDR")
            ->type_name("K"),
        app.add_flag("--help-config", help_config,
                     "list every config key with its type, default and meaning")};
  }
};

// The command line minus --nproc-per-node K (both spellings): what each rank runs.
std::vector<std::string> without_nproc(const std::vector<std::string>& args) {
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc-per-node") {
      ++i;
    } else if (args[i].rfind("--nproc-per-node=", 0) != 0) {
      rest.push_back(args[i]);
    }
  }
  return rest;
}

int run_sweep(const std::string& sweep_file, const scalebed::SweepArgs& args, const char* argv0) {
  scalebed::SweepHooks hooks;
  hooks.train = train_run;
  hooks.trainer = self_executable(argv0);
  hooks.gpus = static_cast<int>(torch::cuda::device_count());
  hooks.stop_requested = [] { return scalebed::stop_signal() != 0; };
  scalebed::install_stop_signal_handlers();
  return scalebed::sweep_command(sweep_file, args, hooks, std::cout);
}

int trainer_main(const std::vector<std::string>& args, const char* argv0) {
  CLI::App app(kDescription, "trainer");
  cli::configure(app);
  app.footer(kFooter);
  TrainOptions train(app);
  scalebed::SweepArgs sweep;
  const auto sweep_only = scalebed::add_sweep_options(app, sweep, "Sweep files");
  CLI::App* train_command =
      app.add_subcommand("train", "train one run, or a sweep (the same as without a subcommand)");
  train_command->fallthrough();
  PrepareCommand prepare(app);
  SampleCommand sample(app);
  ExportCommand export_command(app);
  app.require_subcommand(0, 1);
  if (auto code = cli::parse(app, args)) return *code;

  // A subcommand other than train takes its own options only.
  for (CLI::App* sub : {prepare.app, sample.app, export_command.app}) {
    if (!sub->parsed()) continue;
    std::vector<CLI::Option*> trainer_options = train.given;
    trainer_options.insert(trainer_options.end(), sweep_only.begin(), sweep_only.end());
    for (const CLI::Option* o : trainer_options) {
      if (o->count() > 0) {
        throw UsageError(o->get_name() + " is not an option of `trainer " + sub->get_name() + "`");
      }
    }
  }
  if (prepare.app->parsed()) return prepare.run();
  if (sample.app->parsed()) return sample.run();
  if (export_command.app->parsed()) return export_command.run();

  if (train.help_config) {
    std::cout << "config keys:\n" << scalebed::describe_config_schema();
    return scalebed::kExitOk;
  }
  if (train.config_path.empty()) throw UsageError("--config FILE is required");
  const bool sweep_file = scalebed::is_sweep_file(train.config_path);
  if (train.nproc > 0) {
    // The local launcher: this same command, K times, as ranks of one job.
    if (sweep_file) throw UsageError("--nproc-per-node runs one config; sweeps do not take it yet");
    return scalebed::launch_local_ranks(self_executable(argv0), without_nproc(args),
                                        static_cast<int>(train.nproc), std::cout);
  }
  if (sweep_file) {
    if (!train.init_from.empty() || train.planned_world > 0) {
      throw UsageError(std::string(train.init_from.empty() ? "--world-size" : "--init-from") +
                       " applies to one run, not to a sweep file");
    }
    sweep.list = sweep.list || train.dry_run;
    sweep.overrides = train.overrides;
    return run_sweep(train.config_path, sweep, argv0);
  }
  for (const CLI::Option* o : sweep_only) {
    if (o->count() > 0) {
      throw UsageError(o->get_name() + " applies to sweep files (configs with `grid` or `zip`)");
    }
  }
  if (train.planned_world > 0 && !train.dry_run) {
    throw UsageError(
        "--world-size plans a --dry-run; ranks are started by --nproc-per-node, torchrun or "
        "srun");
  }
  std::vector<std::string> overrides = train.overrides;
  if (!train.init_from.empty()) overrides.push_back("model.init_from=" + train.init_from);

  // First: a signal while the config loads and the model builds (about
  // 0.3 s) killed the process without a word.
  if (!train.dry_run) scalebed::install_stop_signal_handlers();
  const auto cfg = scalebed::load_run_config(train.config_path, overrides);
  auto training = scalebed::build_training(
      cfg, train.dry_run ? scalebed::BuildMode::kDryRun : scalebed::BuildMode::kTrain,
      train.planned_world);
  if (train.dry_run) {
    scalebed::print_dry_run(*training, std::cout);
    return scalebed::kExitOk;
  }
  return scalebed::run_training(*training);
}

}  // namespace

int main(int argc, char** argv) {
  scalebed::stop_with_launcher();  // a rank of --nproc-per-node dies with its launcher
  try {
    return trainer_main(std::vector<std::string>(argv + 1, argv + argc), argv[0]);
  } catch (const UsageError& e) {
    return cli::usage_error("trainer", e.what());
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
