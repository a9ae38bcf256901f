// Fuzz target: the analysis stage's points table (analysis/points.h), in both
// of its forms (plain and a sweep's collected table). Only AnalysisError may
// come out.
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "points.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = scalebed::fuzz::write_input(data, size, "points.csv");
  for (const char* convention : {"", "md"}) {
    try {
      int skipped = 0;
      scalebed::analysis::read_points_csv(path, convention, &skipped);
    } catch (const scalebed::analysis::AnalysisError&) {
    } catch (const std::exception& e) {
      scalebed::fuzz::unexpected_exception(e);
    }
  }
  return 0;
}
