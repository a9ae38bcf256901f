// CRC32 of a file (see file_crc32.h).
#include "util/file_crc32.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "util/error.h"

namespace scalebed {

std::pair<uint32_t, int64_t> file_crc32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_at(path, "cannot open: ", std::strerror(errno));
  uLong crc = crc32(0L, Z_NULL, 0);
  int64_t bytes = 0;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = in.gcount();
    crc = crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(n));
    bytes += n;
  }
  return {static_cast<uint32_t>(crc), bytes};
}

}  // namespace scalebed
