// Fuzz target: a run config file (src/config/), read and validated as
// `trainer --config FILE` does. Only scalebed::Error may come out.
#include <cstdint>
#include <string>

#include "config/config.h"
#include "fuzz_input.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = scalebed::fuzz::write_input(data, size, "run.yaml");
  try {
    scalebed::load_run_config(path, {});
  } catch (const scalebed::Error&) {
  } catch (const std::exception& e) {
    scalebed::fuzz::unexpected_exception(e);
  }
  return 0;
}
