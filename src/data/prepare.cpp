// Text -> token shards.
#include "data/prepare.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/token_files.h"
#include "data/token_meta.h"
#include "data/tokenizer.h"
#include "util/error.h"
#include "util/file_crc32.h"
#include "util/fs.h"

namespace scalebed {

namespace {

// Tokens into numbered llm.c shards of `shard_tokens` each, written as each fills.
class ShardSink {
 public:
  ShardSink(std::string prefix, int64_t shard_tokens, std::vector<std::string>& files)
      : prefix_(std::move(prefix)), shard_tokens_(shard_tokens), files_(files) {}
  void add(const std::vector<uint32_t>& ids) {
    for (uint32_t id : ids) {
      buffer_.push_back(id);
      if (static_cast<int64_t>(buffer_.size()) == shard_tokens_) flush();
    }
    tokens_ += static_cast<int64_t>(ids.size());
  }
  void flush() {
    if (buffer_.empty()) return;
    char name[64];
    std::snprintf(name, sizeof name, "_%06d.bin", index_++);
    files_.push_back(prefix_ + name);
    write_llmc_shard(files_.back(), buffer_);
    buffer_.clear();
  }
  int64_t tokens() const { return tokens_; }

 private:
  std::string prefix_;
  int64_t shard_tokens_;
  std::vector<std::string>& files_;
  std::vector<uint32_t> buffer_;
  int64_t tokens_ = 0;
  int index_ = 0;
};

}  // namespace

PrepareResult prepare_shards(const PrepareOptions& o) {
  if (o.inputs.empty()) throw Error("prepare: give at least one --input text file");
  if (o.out_dir.empty()) throw Error("prepare: give --out DIR");
  if (!(o.val_fraction > 0 && o.val_fraction < 1)) {
    throw Error("prepare: --val-fraction must be in (0, 1)");
  }
  if (o.shard_tokens < 1) throw Error("prepare: --shard-tokens must be >= 1");
  auto tok = make_tokenizer(o.tokenizer);
  if (o.eos && tok->eos_id() < 0) {
    throw Error("prepare: --eos: the tokenizer '" + o.tokenizer +
                "' has no end-of-document id (byte has none; a SentencePiece model needs one)");
  }
  // The held-out tail is the last val_fraction of the inputs' bytes, so that
  // the text streams through once: the piece that holds the boundary is cut
  // there (at a UTF-8 character boundary) and each side tokenized alone.
  int64_t bytes = 0;
  for (const auto& path : o.inputs) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) fail_at(path, "cannot read: ", ec.message());
    bytes += static_cast<int64_t>(size);
  }
  if (bytes == 0) throw Error("prepare: the inputs hold no text");
  const int64_t val_from = bytes - static_cast<int64_t>(std::llround(bytes * o.val_fraction));
  std::filesystem::create_directories(o.out_dir);
  PrepareResult r;
  r.vocab = tok->vocab_size();
  ShardSink train(o.out_dir + "/train", o.shard_tokens, r.files),
      val(o.out_dir + "/val", o.shard_tokens, r.files);
  int64_t position = 0;  // bytes read so far
  auto sink_at = [&](int64_t byte) -> ShardSink& { return byte < val_from ? train : val; };
  for (const auto& path : o.inputs) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail_at(path, "cannot open");
    std::string piece(static_cast<size_t>(o.read_bytes), '\0');
    while (in) {
      // About read_bytes of text, cut after a newline (or at the file's end).
      in.read(piece.data(), static_cast<std::streamsize>(o.read_bytes));
      std::string text = piece.substr(0, static_cast<size_t>(in.gcount()));
      if (text.empty()) break;
      std::string rest;
      if (text.back() != '\n' && std::getline(in, rest)) text += rest + (in.eof() ? "" : "\n");
      const auto n = static_cast<int64_t>(text.size());
      if (position < val_from && position + n > val_from) {
        auto cut = static_cast<size_t>(val_from - position);
        while (cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) ++cut;
        train.add(tok->encode(text.substr(0, cut)));
        train.flush();  // the training stream ends here: its shards come first
        val.add(tok->encode(text.substr(cut)));
      } else {
        if (position >= val_from) train.flush();
        sink_at(position).add(tok->encode(text));
      }
      position += n;
    }
    if (in.bad()) fail_at(path, "read error");
    // A document ends with the file.
    if (o.eos) sink_at(position - 1).add({static_cast<uint32_t>(tok->eos_id())});
  }
  train.flush();
  val.flush();
  r.train_tokens = train.tokens();
  r.val_tokens = val.tokens();
  if (r.train_tokens + r.val_tokens == 0) throw Error("prepare: the inputs hold no text");
  // What the shards hold, for the trainer: the vocabulary, the tokenizer, and
  // the bytes behind the tokens (data.nll_to_bpb auto reads val_bpb off it).
  nlohmann::ordered_json meta = {
      {"format", kTokenMetaFormat},
      {"format_version", kTokenMetaVersion},
      {"vocab", r.vocab},
      {"tokenizer", o.tokenizer},
      {"tokenizer_crc32",
       o.tokenizer == "byte" ? nlohmann::json() : nlohmann::json(file_crc32(o.tokenizer).first)},
      {"eos_id", o.eos ? nlohmann::json(tok->eos_id()) : nlohmann::json()},
      {"mask_id", nlohmann::json()},
      {"tokens", r.train_tokens + r.val_tokens},
      {"bytes", bytes},
      {"train_tokens", r.train_tokens},
      {"val_tokens", r.val_tokens},
      {"tool", "trainer prepare"}};
  write_file_atomic(o.out_dir + "/meta.json", meta.dump(2) + "\n");
  return r;
}

}  // namespace scalebed
