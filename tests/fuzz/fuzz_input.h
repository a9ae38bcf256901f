// Shared by the fuzz targets: the fuzzer's bytes as a file (the readers under
// test take paths, as the trainer and analyze do), and the rule that bad input
// may only end in the project's own errors, which name file, line and key.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <typeinfo>

namespace scalebed::fuzz {

// A per-process scratch directory, removed by nobody: it lives in /tmp.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string d = "/tmp/scalebed-fuzz-" + std::to_string(getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

// Writes `size` bytes to scratch_dir()/relative; returns the path.
inline std::string write_input(const uint8_t* data, size_t size, const std::string& relative) {
  const std::string path = scratch_dir() + "/" + relative;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

// Any other exception escaping a reader is a finding: the user would see a bare
// std::invalid_argument("stod") or similar instead of where the input is bad.
[[noreturn]] inline void unexpected_exception(const std::exception& e) {
  std::fprintf(stderr, "unexpected exception (%s): %s\n", typeid(e).name(), e.what());
  std::abort();
}

}  // namespace scalebed::fuzz
