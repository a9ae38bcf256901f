// SplitMix64 (Steele, Lea and Flood 2014): the 64-bit mixing function behind
// every counter-based seed in data/ (batches, generated windows), and the
// small generator that steps it.
#pragma once

#include <cstdint>

namespace scalebed {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A stream of splitmix64 outputs: a pure function of its starting state.
struct SplitMix {
  uint64_t state;
  uint64_t next() {
    const uint64_t out = splitmix64(state);
    state += 0x9E3779B97F4A7C15ull;
    return out;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  int64_t below(int64_t n) {  // [0, n), (h·n) >> 64
    return static_cast<int64_t>(
        (static_cast<unsigned __int128>(next()) * static_cast<uint64_t>(n)) >> 64);
  }
};

}  // namespace scalebed
