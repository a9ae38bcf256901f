// Byte-level and SentencePiece tokenizers.
#include "data/tokenizer.h"

#include <sentencepiece_processor.h>

#include <map>
#include <nlohmann/json.hpp>

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
  int64_t eos_id() const override { return sp_.eos_id(); }
  std::string describe() const override { return "sentencepiece:" + path_; }

 private:
  std::string path_;
  sentencepiece::SentencePieceProcessor sp_;
};

// A Hugging Face tokenizer.json of a byte-level BPE (GPT-2 style, as the
// diffusion paper's `dvruette/nemotron-cc-bpe`): decoding only, id -> token
// string -> bytes through the byte-level alphabet, added tokens verbatim.
// Encoding (merges, pre-tokenization) is not built in: data for such a
// tokenizer comes pre-tokenized (data.source: tokens).
class HfByteLevelTokenizer : public Tokenizer {
 public:
  explicit HfByteLevelTokenizer(const std::string& path) : path_(path) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception& e) {
      fail_at(path, "not JSON: ", e.what());
    }
    const auto& model = j.contains("model") ? j["model"] : nlohmann::json();
    const bool byte_level = (j.contains("decoder") && j["decoder"].is_object() &&
                             j["decoder"].value("type", "") == "ByteLevel") ||
                            (j.contains("pre_tokenizer") && j["pre_tokenizer"].is_object() &&
                             j["pre_tokenizer"].value("type", "") == "ByteLevel");
    if (!model.is_object() || model.value("type", "") != "BPE" || !model.contains("vocab") ||
        !byte_level) {
      fail_at(path,
              "only byte-level BPE tokenizer.json files can be decoded (model.type BPE, "
              "a ByteLevel decoder or pre-tokenizer)");
    }
    for (const auto& [token, id] : model["vocab"].items()) add(id.get<int64_t>(), token, false);
    for (const auto& t : j.value("added_tokens", nlohmann::json::array())) {
      add(t.at("id").get<int64_t>(), t.at("content").get<std::string>(), true);
    }
    // GPT-2's byte-level alphabet: printable bytes stand for themselves, the
    // others for the code points from 256 on, in byte order.
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      byte_of_[printable ? b : next++] = static_cast<unsigned char>(b);
    }
  }
  std::vector<uint32_t> encode(const std::string&) const override {
    fail_at(path_,
            "encoding with a tokenizer.json is not built in: tokenize the data beforehand "
            "(llm.c shards, data.source: tokens); the trainer only decodes with it");
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string out;
    for (int64_t id : ids) {
      if (id < 0 || id >= static_cast<int64_t>(pieces_.size())) {
        out += "?";
        continue;
      }
      const Piece& piece = pieces_[id];
      if (piece.verbatim) {
        out += piece.text;
        continue;
      }
      // UTF-8 code points of the token string, each one byte of the text.
      const std::string& t = piece.text;
      for (size_t i = 0; i < t.size();) {
        const auto c = static_cast<unsigned char>(t[i]);
        const int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        uint32_t cp = len == 1 ? c : c & (0x3F >> (len - 1));
        for (int k = 1; k < len && i + k < t.size(); ++k) {
          cp = (cp << 6) | (static_cast<unsigned char>(t[i + k]) & 0x3F);
        }
        i += len;
        auto b = byte_of_.find(cp);
        out += b != byte_of_.end() ? static_cast<char>(b->second) : '?';
      }
    }
    return out;
  }
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  std::string describe() const override { return "tokenizer.json:" + path_; }

 private:
  struct Piece {
    std::string text;
    bool verbatim = false;  // an added token: its content as it is
  };
  void add(int64_t id, const std::string& text, bool verbatim) {
    if (id < 0 || id > (int64_t{1} << 24)) fail_at(path_, "token id ", id, " out of range");
    if (id >= static_cast<int64_t>(pieces_.size())) pieces_.resize(id + 1);
    pieces_[id] = {text, verbatim};
  }
  std::string path_;
  std::vector<Piece> pieces_;
  std::map<uint32_t, unsigned char> byte_of_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& spec) {
  if (spec == "byte") return std::make_unique<ByteTokenizer>();
  if (spec.size() > 5 && spec.substr(spec.size() - 5) == ".json") {
    return std::make_unique<HfByteLevelTokenizer>(spec);
  }
  return std::make_unique<SentencePieceTokenizer>(spec);
}

}  // namespace scalebed
