// Fuzz target: a sweep file (src/sweep/sweep.h), loaded and expanded as
// `trainer --config SWEEP --list` does. Only scalebed::Error may come out.
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "sweep/sweep.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = scalebed::fuzz::write_input(data, size, "sweep.yaml");
  try {
    scalebed::expand_sweep(scalebed::load_sweep(path));
  } catch (const scalebed::Error&) {
  } catch (const std::exception& e) {
    scalebed::fuzz::unexpected_exception(e);
  }
  return 0;
}
