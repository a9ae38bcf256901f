// llm.c shards and raw token files: memory-mapped reading, checks, writing.
#include "data/token_files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"
#include "util/fs.h"

namespace scalebed {
namespace {

struct Mapping {
  void* base = nullptr;
  size_t bytes = 0;
  ~Mapping() {
    if (base) ::munmap(base, bytes);
  }
};

std::shared_ptr<Mapping> map_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail_at(path, "cannot open token file: ", std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  auto m = std::make_shared<Mapping>();
  m->bytes = static_cast<size_t>(st.st_size);
  if (m->bytes > 0) {
    m->base = ::mmap(nullptr, m->bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m->base == MAP_FAILED) {
      m->base = nullptr;
      ::close(fd);
      fail_at(path, "cannot memory-map: ", std::strerror(errno));
    }
  }
  ::close(fd);
  return m;
}

}  // namespace

TokenSegment TokenSegment::slice(int64_t begin, int64_t end) const {
  SB_CHECK(0 <= begin && begin <= end && end <= length);
  TokenSegment s = *this;
  s.data = static_cast<const char*>(data) + begin * width;
  s.length = end - begin;
  return s;
}

TokenSegment open_token_file(const std::string& path, const std::string& format) {
  auto m = map_file(path);
  const auto* bytes = static_cast<const char*>(m->base);
  TokenSegment seg;
  seg.name = path;
  seg.owner = m;

  int32_t header[3] = {0, 0, 0};
  if (m->bytes >= kLlmcHeaderBytes) std::memcpy(header, bytes, sizeof(header));
  const bool has_magic = header[0] == kLlmcMagicU16 || header[0] == kLlmcMagicU32;

  std::string kind = format;
  if (kind == "auto") {
    if (!has_magic) {
      fail_at(path, "not an llm.c shard (no magic ", kLlmcMagicU16, " or ", kLlmcMagicU32,
              " in the first 4 bytes); for headerless files set data.format to raw_u16 or "
              "raw_u32");
    }
    kind = "llmc";
  }
  if (kind == "llmc") {
    if (m->bytes < kLlmcHeaderBytes) {
      fail_at(path, "truncated llm.c shard: ", m->bytes, " bytes, smaller than the ",
              kLlmcHeaderBytes, "-byte header");
    }
    if (header[0] == kLlmcMagicU16) {
      if (header[1] != kLlmcVersionU16) {
        fail_at(path, "llm.c shard with magic ", header[0], " has unsupported version ", header[1],
                " (expected ", kLlmcVersionU16, ")");
      }
      seg.width = 2;
    } else if (header[0] == kLlmcMagicU32) {
      if (header[1] != kLlmcVersionU32) {
        fail_at(path, "llm.c shard with magic ", header[0], " has unsupported version ", header[1],
                " (expected ", kLlmcVersionU32, ")");
      }
      seg.width = 4;
    } else {
      fail_at(path, "bad llm.c magic ", header[0], " (expected ", kLlmcMagicU16, " or ",
              kLlmcMagicU32, ")");
    }
    const int64_t n = header[2];
    const uint64_t expected = kLlmcHeaderBytes + static_cast<uint64_t>(n) * seg.width;
    if (n < 0 || expected != m->bytes) {
      fail_at(path, "size mismatch: header says ", n, " tokens (", expected, " bytes), file has ",
              m->bytes, " bytes");
    }
    seg.data = bytes + kLlmcHeaderBytes;
    seg.length = n;
  } else {
    seg.width = kind == "raw_u16" ? 2 : 4;
    if (m->bytes % seg.width != 0) {
      fail_at(path, "size ", m->bytes, " bytes is not a whole number of ", seg.width,
              "-byte tokens");
    }
    if (has_magic) {
      fail_at(path, "looks like an llm.c shard (magic ", header[0], ") but data.format is ", kind,
              "; use llmc or auto");
    }
    seg.data = bytes;
    seg.length = static_cast<int64_t>(m->bytes / seg.width);
  }
  if (seg.length == 0) fail_at(path, "holds no tokens");
  return seg;
}

TokenSegment make_owned_segment(std::vector<uint32_t> tokens, const std::string& name) {
  auto owned = std::make_shared<std::vector<uint32_t>>(std::move(tokens));
  TokenSegment seg;
  seg.name = name;
  seg.data = owned->data();
  seg.length = static_cast<int64_t>(owned->size());
  seg.width = 4;
  seg.owner = owned;
  return seg;
}

int64_t max_token(const std::vector<TokenSegment>& segments) {
  int64_t best = -1;
  for (const auto& s : segments) {
    for (int64_t i = 0; i < s.length; ++i) best = std::max(best, s.at(i));
  }
  return best;
}

void check_vocab(const std::vector<TokenSegment>& segments, int64_t vocab) {
  for (const auto& s : segments) {
    for (int64_t i = 0; i < s.length; ++i) {
      if (s.at(i) >= vocab) {
        fail_at(s.name, "token ", s.at(i), " at position ", i, " is outside the vocabulary of ",
                vocab, " (model.vocab)");
      }
    }
  }
}

void check_absent(const std::vector<TokenSegment>& segments, int64_t token,
                  const std::string& why) {
  for (const auto& s : segments) {
    for (int64_t i = 0; i < s.length; ++i) {
      if (s.at(i) == token) fail_at(s.name, "token ", token, " at position ", i, ": ", why);
    }
  }
}

void write_llmc_shard(const std::string& path, const std::vector<uint32_t>& tokens) {
  uint32_t largest = 0;
  for (uint32_t t : tokens) largest = std::max(largest, t);
  const bool narrow = largest < 65536;
  int32_t header[256] = {0};
  header[0] = narrow ? kLlmcMagicU16 : kLlmcMagicU32;
  header[1] = narrow ? kLlmcVersionU16 : kLlmcVersionU32;
  SB_CHECK(tokens.size() < (1ull << 31), "shard too large for the llm.c header");
  header[2] = static_cast<int32_t>(tokens.size());
  std::string out(reinterpret_cast<const char*>(header), sizeof(header));
  if (narrow) {
    std::vector<uint16_t> narrowed(tokens.begin(), tokens.end());
    out.append(reinterpret_cast<const char*>(narrowed.data()), narrowed.size() * 2);
  } else {
    out.append(reinterpret_cast<const char*>(tokens.data()), tokens.size() * 4);
  }
  write_file_atomic(path, out);
}

}  // namespace scalebed
