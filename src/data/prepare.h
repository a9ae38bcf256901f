// `trainer prepare`: tokenises text files into llm.c shards (train_XXXXXX.bin
// and val_XXXXXX.bin) that `data.source: tokens` reads back memory-mapped,
// and meta.json (vocabulary, tokenizer, end-of-document id, tokens, bytes).
// It streams: memory holds one piece of text (read_bytes, cut after a
// newline, tokenized alone) and one shard's tokens per split.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace scalebed {

struct PrepareOptions {
  std::vector<std::string> inputs;  // text files
  std::string out_dir;
  std::string tokenizer = "byte";  // "byte" or a SentencePiece .model
  double val_fraction = 0.05;      // tail of the inputs' bytes held out
  int64_t shard_tokens = 100'000'000;
  int64_t read_bytes = 16 << 20;  // text tokenized at a time (then up to the next newline)
  // Each input file is one document: append the tokenizer's end-of-document
  // id after it (an Error for a tokenizer without one, such as byte).
  bool eos = false;
};

struct PrepareResult {
  int64_t train_tokens = 0, val_tokens = 0, vocab = 0;
  std::vector<std::string> files;
};

PrepareResult prepare_shards(const PrepareOptions& options);

}  // namespace scalebed
