// Byte-level and SentencePiece tokenizers.
#include "data/tokenizer.h"

#include <sentencepiece_processor.h>

#include "util/error.h"
#include "util/fs.h"

namespace scalebed {
namespace {

class ByteTokenizer : public Tokenizer {
 public:
  std::vector<uint32_t> encode(const std::string& text) const override {
    return std::vector<uint32_t>(reinterpret_cast<const unsigned char*>(text.data()),
                                 reinterpret_cast<const unsigned char*>(text.data()) + text.size());
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string out;
    for (int64_t id : ids) out.push_back(id >= 0 && id < 256 ? static_cast<char>(id) : '?');
    return out;
  }
  int64_t vocab_size() const override { return 256; }
  std::string describe() const override { return "byte"; }
};

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& path) : path_(path) {
    if (const auto why = why_missing(path); !why.empty()) {
      fail_at(path, "SentencePiece model: ", why);
    }
    const auto status = sp_.Load(path);
    if (!status.ok()) fail_at(path, "cannot load SentencePiece model: ", status.ToString());
  }
  std::vector<uint32_t> encode(const std::string& text) const override {
    std::vector<int> ids;
    const auto status = sp_.Encode(text, &ids);
    if (!status.ok()) fail_at(path_, "encoding failed: ", status.ToString());
    return std::vector<uint32_t>(ids.begin(), ids.end());
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::vector<int> narrowed;
    for (int64_t id : ids) {
      if (id >= 0 && id < sp_.GetPieceSize()) narrowed.push_back(static_cast<int>(id));
    }
    std::string out;
    sp_.Decode(narrowed, &out);
    return out;
  }
  int64_t vocab_size() const override { return sp_.GetPieceSize(); }
  std::string describe() const override { return "sentencepiece:" + path_; }

 private:
  std::string path_;
  sentencepiece::SentencePieceProcessor sp_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& spec) {
  if (spec == "byte") return std::make_unique<ByteTokenizer>();
  return std::make_unique<SentencePieceTokenizer>(spec);
}

}  // namespace scalebed
