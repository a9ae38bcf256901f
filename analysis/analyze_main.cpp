// `analyze`: fits compute-optimal laws to scaling-law points and prints the
// allocation they imply. Input: a CSV of params,tokens,loss[,flops] rows, or
// run directories (a run, or a folder of runs), whose constant-LR training
// curves are read at a grid of FLOP budgets (budgets.h), or whose final
// losses are the points.
//
//   analyze POINTS.csv|RUNS_DIR [--flops 6nd|palm|md] [--budgets SPEC]
//           [--size params|m] [--floor L] [--fix-floor] [--out DIR] ...
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "analyze_group.h"
#include "budgets.h"
#include "compare.h"
#include "doc.h"
#include "report.h"
#include "runs.h"
#include "util/cli.h"
#include "util/error.h"
#include "util/exit_codes.h"
#include "util/parse.h"

namespace {
using namespace scalebed::analysis;

const char* kDescription =
    R"(analyze: compute-optimal scaling laws from (params, tokens, loss) points

usage: analyze POINTS.csv|RUNS_DIR [options]
)";

const char* kFooter =
    R"(The CSV needs a header with params, tokens and loss (flops optional; else 6ND).
Approach 3: L(N,D) = E + A/N^alpha + B/D^beta by Huber loss in log space, 4,500 L-BFGS starts
(screened: 20 iterations each, the best 100 to convergence, on a subset of 1,000 points when
there are more; the best 5 finished on every point by Newton's method).
Approach 2: IsoFLOP parabolas in log N, refused without an interior minimum.
Approach 1: the Pareto frontier of loss vs FLOPs, with L(C) = E + A*C^-alpha on it.
Allocations use C = k*N*D, k = the points' median FLOPs per parameter and token (6 for 6ND).)";

namespace cli = scalebed::cli;
using scalebed::UsageError;

struct Command {
  std::string input, out_dir, group_by, reference_file;
  bool reference_cooldown = false;
  AnalyzeSettings st;
};

// The command line; nullopt to go on, or the exit code.
std::optional<int> parse_command_line(int argc, char** argv, Command& c) {
  CLI::App app(kDescription, "analyze");
  cli::configure(app);
  app.footer(kFooter);
  AnalyzeSettings& st = c.st;
  app.add_option("input", c.input,
                 "a CSV of points, or run directories (a run or a folder of runs)")
      ->required();
  app.add_option("--flops", st.convention,
                 "run directories: which FLOP count of summary.json to use (default 6nd)")
      ->check(CLI::IsMember({"6nd", "palm", "md"}));
  app.add_option("--budgets", st.budgets,
                 "run directories: the IsoFLOP budgets read off constant-LR training\n"
                 "curves (the diffusion paper's method): auto (default: 8 per decade over\n"
                 "every readable step), K/decade, or LO:HI:COUNT; at each (budget, size)\n"
                 "the best batch and LR count, and profiles are fitted where five sizes\n"
                 "(or all of fewer) were read. `final`: one point per run, its final\n"
                 "loss (runs of fixed length or a decaying LR; also chosen when the runs\n"
                 "are not all constant-LR)")
      ->each([&st](const std::string&) { st.budgets_given = true; });
  app.add_option_function<std::string>(
         "--curve-points",
         [](const std::string&) {
           throw UsageError(
               "--curve-points was replaced by --budgets (IsoFLOP budgets read off the training "
               "curves; the default for constant-LR runs)");
         },
         "")
      ->group("");
  app.add_option("--curve", st.curve,
                 "the curve read at budgets: the smoothed training metric (default, the\n"
                 "paper's), or the held-out loss at each evaluation (same windows and noise\n"
                 "for every run: less noise when training batches are small; needs runs\n"
                 "that evaluate often, e.g. train.eval_every 50)")
      ->check(CLI::IsMember({"train", "val"}));
  cli::add_integer(app, "--min-steps", st.min_steps, 0, INT64_MAX,
                   "curves: read budgets only from step K of a run on (besides 2.5x its\n"
                   "warm-up), leaving out the early steps of short runs");
  cli::add_positive(app, "--max-loss", st.max_loss,
                    "leave out points whose loss is L or more (the diffusion paper's fits: 4;\n"
                    "its runs' early, high-loss budgets)");
  cli::add_integer(app, "--max-batch-tokens", st.max_batch_tokens, 1, INT64_MAX,
                   "leave out points of runs whose batch exceeds B tokens (the paper's fits:\n"
                   "batch < 1024 sequences of 2048, i.e. 1048576)");
  app.add_option("--size", st.size,
                 "what \"model size\" is in every approach: non-embedding parameters N\n"
                 "(params, default), or m: FLOPs per token M under --flops (with --flops md\n"
                 "the paper's M = 72Ld^2 + 12LdT, so that C = M*D)")
      ->check(CLI::IsMember({"params", "m"}));
  cli::add_positive(app, "--floor", st.floor,
                    "a known or assumed irreducible loss (default: the synthetic source's\n"
                    "exact optimal loss, when the runs recorded it). No loss below it is\n"
                    "printed as a prediction");
  app.add_flag("--fix-floor", st.fix_floor,
               "hold Approach 3's E at that floor and fit A, B, alpha, beta");
  app.add_flag("!--no-seed-weights", st.seed_weights,
               "fit Approach 3 unweighted (default: when some setting was run with several\n"
               "seeds, each point is weighted by 1/variance of its log loss from the seed\n"
               "spread, shrunk towards the pooled spread)");
  app.add_option_function<std::string>(
         "--max-extrapolation",
         [&st](const std::string& text) {
           st.max_extrapolation = scalebed::real_flag("--max-extrapolation", text);
           if (!(st.max_extrapolation >= 0)) throw UsageError("--max-extrapolation must be >= 0");
         },
         "decades beyond the fitted FLOPs up to which floor-free power laws\n"
         "(Approaches 1 and 2) print losses (default 2)")
      ->type_name("X");
  cli::add_integer(app, "--drop-highest", st.drop, 0, INT64_MAX,
                   "drop the K highest-loss points first (Epoch's rule for Chinchilla: 5)");
  // Fewer resamples give 95% percentile intervals that are just the extremes
  // of a handful of refits (one refit: an interval that can exclude the estimate).
  cli::add_integer(app, "--bootstrap", st.resamples, 100, 1000000,
                   "bootstrap resamples for intervals (default 1000; at least 100)");
  cli::add_integer(app, "--seed", st.seed, 0, INT64_MAX, "bootstrap seed (default 1)");
  app.add_option_function<std::string>(
         "--isoflop-tolerance",
         [&st](const std::string& text) {
           st.iso_options.group_tolerance = scalebed::positive_flag("--isoflop-tolerance", text);
           if (st.iso_options.group_tolerance > 0.1) {
             throw UsageError(
                 "--isoflop-tolerance must be at most 0.1 decades (a budget of points within "
                 "26%), not " +
                 text);
           }
         },
         "final losses: points within T decades of FLOPs form one IsoFLOP budget\n"
         "(default 0.05, at most 0.1); a budget never spans more than 4T decades\n"
         "(chained neighbours are split at their widest gaps)")
      ->type_name("X");
  cli::add_integer(app, "--threads", st.fit_options.threads, 1, 1024,
                   "threads for the multi-start fit and bootstrap (default 2)");
  cli::add_positive(app, "--predict", st.predict,
                    "print the allocation at a budget of C FLOPs only");
  cli::add_positive(app, "--params", st.at_params,
                    "with --tokens: print the predicted loss of that model (and its\n"
                    "budget's optimum)");
  cli::add_positive(app, "--tokens", st.at_tokens, "with --params (above)");
  app.add_option("--group-by", c.group_by,
                 "one analysis per value of a column / run field (objective, noise, ...);\n"
                 "KEY[,KEY]; with --out, each goes to DIR/KEY-VALUE/");
  app.add_option("--out", c.out_dir,
                 "write the planning guide: report.md, report.html, plots (.svg),\n"
                 "fit.json, allocation.csv");
  app.add_option("--reference", c.reference_file,
                 "published laws to compare with (JSON, e.g. analysis/references/\n"
                 "diffusion_paper.json); with --group-by and --out they are overlaid in\n"
                 "DIR/comparison.html");
  app.add_flag("--reference-cooldown", c.reference_cooldown,
               "divide the reference losses by the diffusion paper's cooldown factor\n"
               "1.0245 (+-0.00138: a constant-LR run's loss over the same run cooled down;\n"
               "cooldown_ablations.ipynb), to compare runs with a decaying LR");
  cli::add_positive(app, "--gpu-tflops", st.gpu_tflops,
                    "GPU-hours in the guide at P peak TFLOP/s (default 989) ...");
  app.add_option_function<std::string>(
         "--mfu",
         [&st](const std::string& text) {
           st.mfu = scalebed::positive_flag("--mfu", text);
           if (st.mfu > 1) {
             throw UsageError("--mfu is a fraction of peak FLOP/s, at most 1, not " + text);
           }
         },
         "... and MFU M (default 0.4)")
      ->type_name("X");
  if (auto code = cli::parse(app, std::vector<std::string>(argv + 1, argv + argc))) return code;
  if (c.reference_cooldown && c.reference_file.empty()) {
    throw UsageError("--reference-cooldown needs --reference FILE");
  }
  if ((st.at_params > 0) != (st.at_tokens > 0)) {
    throw UsageError("--params and --tokens go together (both > 0)");
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  Command command;
  try {
    if (auto code = parse_command_line(argc, argv, command)) return *code;
  } catch (const UsageError& e) {
    return cli::usage_error("analyze", e.what());
  }
  const std::string& input = command.input;
  const std::string& out_dir = command.out_dir;
  const std::string& group_by = command.group_by;
  const std::string& reference_file = command.reference_file;
  AnalyzeSettings& st = command.st;
  if (!out_dir.empty()) {
    // Before minutes of fitting: a guide that cannot be written is known now.
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    const std::string probe = out_dir + "/.analyze-write-test";
    std::ofstream test(probe);
    test << "ok\n";
    test.flush();
    if (ec || !test) {
      std::cerr << "analyze: --out " << out_dir << ": cannot write there"
                << (ec ? " (" + ec.message() + ")" : std::string()) << "\n";
      return 1;
    }
    test.close();
    std::filesystem::remove(probe, ec);
  }
  try {
    std::vector<ReferenceLaw> references =
        reference_file.empty() ? std::vector<ReferenceLaw>{} : read_reference_laws(reference_file);
    for (auto& r : references) {
      if (command.reference_cooldown) with_cooldown(r);
    }
    const std::vector<ReferenceHyperparameterLaw> reference_hyper =
        reference_file.empty() ? std::vector<ReferenceHyperparameterLaw>{}
                               : read_reference_hyperparameters(reference_file);
    int unfinished = 0;
    const bool from_runs = std::filesystem::is_directory(input);
    std::vector<Point> points;
    if (from_runs) {
      points = read_run_directories(input, st.convention, &unfinished);
      const std::vector<RunCurve> curves = read_run_curves(input, st.convention, st.curve);
      for (const auto& c : curves) {
        if (c.unparsable_lines + c.repeated_steps == 0) continue;
        std::fprintf(stderr,
                     "warning: %s/metrics.jsonl: %d unparsable line(s) and %d repeated or "
                     "out-of-order step(s) skipped\n",
                     c.final.extra.at("name").c_str(), c.unparsable_lines, c.repeated_steps);
      }
      for (const auto& c : curves) st.curves.push_back(plot_curve(c));
      size_t constant = 0;
      for (const auto& c : curves) constant += c.constant_lr();
      const size_t runs = points.size();
      const bool all_constant = constant == runs;
      if (st.budgets == "final" || (!st.budgets_given && !all_constant)) {
        st.method = "final losses, one point per run; IsoFLOP budgets group runs within " +
                    fmt("%.3g", st.iso_options.group_tolerance) + " decades of FLOPs";
        if (st.budgets != "final") {
          st.method +=
              " (not every run is constant-LR with a logged curve: " + std::to_string(constant) +
              " of " + std::to_string(points.size()) + " are; pass --budgets to read those curves)";
        }
      } else {
        if (constant == 0) {
          throw AnalysisError(input +
                              ": --budgets reads constant-LR training curves, and no finished run "
                              "is constant-LR (summary.json schedule.kind) with a logged curve");
        }
        const std::vector<double> grid = budget_grid(st.budgets, curves, st.min_steps);
        points = points_at_budgets(curves, grid, st.min_steps);
        if (points.empty()) {
          throw AnalysisError(input + ": no run's curve passes any budget of --budgets " +
                              st.budgets + " after its warm-up");
        }
        st.from_curves = true;
        st.runs_left_out = runs - constant;
      }
    } else {
      points = read_points_csv(input, st.convention, &unfinished);
      st.method = "points as given; IsoFLOP budgets group points within " +
                  fmt("%.3g", st.iso_options.group_tolerance) + " decades of FLOPs";
    }
    for (const auto& w : input_warnings(points)) std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (st.size == "m") {
      // Size as FLOPs per token: M = C/D under the chosen convention (C = M·D).
      for (auto& p : points) p.params = p.flops / p.tokens;
    }
    points = drop_highest_losses(std::move(points), st.drop);
    // The fit window (the diffusion paper's: loss < 4, batch < 1024 sequences).
    if (st.max_loss > 0 || st.max_batch_tokens > 0) {
      const size_t before = points.size();
      points.erase(std::remove_if(points.begin(), points.end(),
                                  [&](const Point& p) {
                                    const double batch = extra_number(p, "batch_tokens");
                                    return (st.max_loss > 0 && !(p.loss < st.max_loss)) ||
                                           (st.max_batch_tokens > 0 && batch > st.max_batch_tokens);
                                  }),
                   points.end());
      st.window_note =
          "; window: " + (st.max_loss > 0 ? "loss < " + fmt("%g", st.max_loss) : std::string()) +
          (st.max_loss > 0 && st.max_batch_tokens > 0 ? ", " : "") +
          (st.max_batch_tokens > 0 ? "batch <= " + fmt("%.0f", st.max_batch_tokens) + " tokens"
                                   : std::string()) +
          " (" + std::to_string(before - points.size()) + " of " + std::to_string(before) +
          " points left out)";
      if (points.empty()) {
        throw AnalysisError(input + ": no point is left inside --max-loss/--max-batch-tokens");
      }
    }
    if (group_by.empty()) {
      st.references = references;
      st.reference_hyper = reference_hyper;
      analyze_points(points, input, from_runs, unfinished, st, out_dir);
      return 0;
    }
    // One analysis per value of the grouping column(s) (objective, noise, ...);
    // "objective,noise" groups by both (a missing field counts as empty).
    std::vector<std::string> keys;
    for (size_t start = 0; start <= group_by.size();) {
      const size_t comma = std::min(group_by.find(',', start), group_by.size());
      keys.push_back(group_by.substr(start, comma - start));
      start = comma + 1;
    }
    std::map<std::string, std::vector<Point>> groups;
    for (const auto& key : keys) {
      bool anywhere = false;
      for (const auto& p : points) anywhere = anywhere || p.extra.count(key);
      if (!anywhere) throw AnalysisError(input + ": --group-by " + key + ": no such column/field");
    }
    for (const auto& p : points) {
      std::string value;
      for (const auto& key : keys) {
        auto it = p.extra.find(key);
        const std::string v = it == p.extra.end() ? "" : it->second;
        if (!v.empty()) value += (value.empty() ? "" : "-") + v;
      }
      groups[value.empty() ? "none" : value].push_back(p);
    }
    std::string group_dir = group_by;
    std::replace(group_dir.begin(), group_dir.end(), ',', '+');
    int failed = 0;
    std::vector<GroupLaws> compared;
    for (const auto& [value, group] : groups) {
      std::printf("==================== %s = %s ====================\n", group_by.c_str(),
                  value.c_str());
      try {
        AnalyzeSettings group_st = st;  // with the reference laws meant for this group
        for (const auto& r : references) {
          if (r.group.empty() || r.group == value) group_st.references.push_back(r);
        }
        for (const auto& h : reference_hyper) {
          if (h.group.empty() || h.group == value) group_st.reference_hyper.push_back(h);
        }
        GroupLaws laws = analyze_points(
            group, input + " [" + group_by + " = " + value + "]", from_runs, unfinished, group_st,
            out_dir.empty() ? "" : out_dir + "/" + group_dir + "-" + value);
        laws.name = value;
        compared.push_back(laws);
      } catch (const AnalysisError& e) {  // one group's refusal does not stop the others
        std::printf("refused: %s\n", e.what());
        ++failed;
      }
      std::printf("\n");
    }
    if (compared.size() >= 2) {
      double lo = 1e300, hi = 0;
      for (const auto& g : compared) {
        if (g.can_plan()) lo = std::min(lo, g.c_min), hi = std::max(hi, g.c_max);
      }
      std::printf("==================== comparison across %s ====================\n",
                  group_by.c_str());
      if (hi > 0) {
        std::vector<std::string> notes;
        for (double c : {lo, hi, hi * 1e2, hi * 1e4}) {
          std::printf("  C %.3g:", c);
          for (const auto& g : compared) {
            if (g.can_plan()) {
              std::printf("  %s %s", g.name.c_str(), g.cell(c, &notes).c_str());
            }
          }
          std::printf("\n");
        }
        for (const auto& n : notes) std::printf("  — not printed: %s\n", n.c_str());
        for (const auto& x : find_crossings(compared, lo, hi * 1e6)) {
          std::printf("  %s and %s cross at %.3g FLOPs%s\n", x.first.c_str(), x.second.c_str(),
                      x.flops, x.flops > hi ? " (extrapolated)" : "");
        }
      }
      if (!out_dir.empty()) {
        write_comparison(out_dir, group_by, compared, references, reference_hyper);
        std::printf("wrote %s/comparison.html (and .md, optimal_loss.svg)\n", out_dir.c_str());
      }
    }
    if (failed > 0) return 1;
  } catch (const AnalysisError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
