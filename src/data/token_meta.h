// meta.json beside prepared token shards (written by `trainer prepare` and
// scripts/prepare_data.py): what the shards hold, so that the trainer can
// check them against its config: the tokenizer's vocabulary, the tokenizer
// file itself (CRC32), its end-of-document and mask ids, and the bytes behind
// the tokens (for bits per byte).
//
//   {"format": "scalebed-tokens", "format_version": 1, "vocab": 131072,
//    "tokenizer": "tokenizer.json", "tokenizer_crc32": 1234567, "eos_id": 0,
//    "mask_id": 3, "tokens": ..., "bytes": ... (null: unknown), ...}
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace scalebed {

constexpr const char* kTokenMetaFormat = "scalebed-tokens";
constexpr int kTokenMetaVersion = 1;

struct TokenMeta {
  std::string path;       // the meta.json read, for messages
  int64_t vocab = 0;      // every id of the tokenizer is below it
  std::string tokenizer;  // "byte", or the tokenizer file as given
  std::optional<uint32_t> tokenizer_crc32;
  int64_t eos_id = -1, mask_id = -1;  // -1: none
  int64_t tokens = 0, bytes = 0;      // bytes 0: unknown (pre-tokenized input)
};

// The meta.json in the folder of `shards` (a path or glob of shard files),
// or nullopt when there is none. An Error naming the file when it is not
// this format, a newer version, or missing its fields.
std::optional<TokenMeta> read_token_meta(const std::string& shards);

}  // namespace scalebed
