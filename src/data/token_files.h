// Token storage: contiguous arrays of token ids read from llm.c shards, raw
// headerless uint16/uint32 files (nanoGPT style) or built in memory, with the
// header, size and vocabulary checks that turn a bad file into an error that
// names it.
//
// llm.c shard layout: a 1024-byte header of 256 little-endian int32
// (header[0] magic, header[1] version, header[2] number of tokens) followed by
// the tokens. magic 20240520 / version 1: uint16 tokens (GPT-2 shards);
// magic 20240801 / version 7: uint32 tokens (llm.c's Llama-3 shards).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace scalebed {

constexpr int32_t kLlmcMagicU16 = 20240520;
constexpr int32_t kLlmcVersionU16 = 1;
constexpr int32_t kLlmcMagicU32 = 20240801;
constexpr int32_t kLlmcVersionU32 = 7;
constexpr size_t kLlmcHeaderBytes = 1024;

// One contiguous run of tokens (a file, or a part of one). Keeps its storage
// (a memory map or an owned buffer) alive through a shared owner.
struct TokenSegment {
  std::string name;  // file path or a description, for messages
  const void* data = nullptr;
  int64_t length = 0;  // tokens
  int width = 2;       // bytes per token: 2 or 4
  std::shared_ptr<const void> owner;

  int64_t at(int64_t i) const {
    return width == 2 ? static_cast<const uint16_t*>(data)[i]
                      : static_cast<const uint32_t*>(data)[i];
  }
  // The tokens [begin, end) of this segment as a new segment sharing storage.
  TokenSegment slice(int64_t begin, int64_t end) const;
};

// Memory-maps one token file. format: auto | llmc | raw_u16 | raw_u32
// ("auto" accepts llm.c shards and asks for an explicit raw format otherwise).
TokenSegment open_token_file(const std::string& path, const std::string& format);

// Owns an in-memory token array (text tokenised at start-up, synthetic data).
TokenSegment make_owned_segment(std::vector<uint32_t> tokens, const std::string& name);

// Largest token id in the segments, and the first offending position when
// one is >= vocab (vocab > 0). Throws Error naming the file and offset.
int64_t max_token(const std::vector<TokenSegment>& segments);
void check_vocab(const std::vector<TokenSegment>& segments, int64_t vocab);
// Throws Error naming the file and position of the first `token` in the
// segments, `why` saying why it must not be there.
void check_absent(const std::vector<TokenSegment>& segments, int64_t token, const std::string& why);

// Writes tokens as an llm.c shard (uint16 when every id < 65536, else the
// uint32 variant), atomically.
void write_llmc_shard(const std::string& path, const std::vector<uint32_t>& tokens);

}  // namespace scalebed
