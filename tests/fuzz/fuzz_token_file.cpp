// Fuzz target: a token file as the data stage opens it (src/data/): the
// llm.c shard header, size and vocabulary checks, then windows read through
// the index. Only scalebed::Error may come out, and no read may leave the map.
#include <cstdint>
#include <string>

#include "data/data.h"
#include "data/token_files.h"
#include "fuzz_input.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = scalebed::fuzz::write_input(data, size, "shard.bin");
  for (const char* format : {"auto", "llmc", "raw_u16", "raw_u32"}) {
    try {
      auto segment = scalebed::open_token_file(path, format);
      std::vector<scalebed::TokenSegment> segments{segment};
      scalebed::max_token(segments);
      scalebed::check_vocab(segments, 50257);
      scalebed::WindowIndex index(segments, 9, "fuzz");
      std::vector<int64_t> window(9);
      for (int64_t i = 0; i < index.count(); i += 1 + index.count() / 4) {
        index.copy(i, window.data());
      }
    } catch (const scalebed::Error&) {
    } catch (const std::exception& e) {
      scalebed::fuzz::unexpected_exception(e);
    }
  }
  return 0;
}
