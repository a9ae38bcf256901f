// Text tokenizers: a built-in byte-level one (vocab 256, lossless for any
// UTF-8), SentencePiece models (BPE or unigram) through libsentencepiece, and
// Hugging Face byte-level BPE tokenizer.json files for decoding only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace scalebed {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::vector<uint32_t> encode(const std::string& text) const = 0;
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  // The end-of-document id, or -1 when the tokenizer has none (byte has none).
  virtual int64_t eos_id() const { return -1; }
  virtual std::string describe() const = 0;
};

// spec: "byte", the path of a SentencePiece .model file, or of a byte-level
// BPE tokenizer.json (decode only: encode() is an Error naming the file).
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& spec);

}  // namespace scalebed
