// Fuzz target: a finished run directory as the analysis stage reads it
// (analysis/runs.h, analysis/budgets.h): the input is split at the first NUL byte into
// summary.json and metrics.jsonl. Only AnalysisError may come out.
#include <cstdint>
#include <cstring>
#include <string>

#include "budgets.h"
#include "fuzz_input.h"
#include "runs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t summary_size = nul ? static_cast<size_t>(nul - data) : size;
  namespace fuzz = scalebed::fuzz;
  fuzz::write_input(data, summary_size, "runs/r/summary.json");
  const size_t rest = nul ? size - summary_size - 1 : 0;
  fuzz::write_input(nul ? nul + 1 : data, rest, "runs/r/metrics.jsonl");
  fuzz::write_input(data, 0, "runs/r/DONE");
  const std::string runs = fuzz::scratch_dir() + "/runs";
  try {
    int skipped = 0;
    namespace an = scalebed::analysis;
    an::read_run_directories(runs, "md", &skipped);
    const auto curves = an::read_run_curves(runs, "6nd");
    for (const char* spec : {"auto", "3/decade", "1e3:1e20:40"}) {
      an::best_per_budget_and_size(an::points_at_budgets(curves, an::budget_grid(spec, curves)));
    }
  } catch (const scalebed::analysis::AnalysisError&) {
  } catch (const std::exception& e) {
    fuzz::unexpected_exception(e);
  }
  return 0;
}
