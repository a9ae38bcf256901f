// CRC32 (zlib's, the same as Python's zlib.crc32) of a file read back from
// the disk: checkpoint integrity and the tokenizer fingerprint of prepared
// token shards share it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace scalebed {

// (CRC32, size in bytes); an Error naming the file when it cannot be read.
std::pair<uint32_t, int64_t> file_crc32(const std::string& path);

}  // namespace scalebed
