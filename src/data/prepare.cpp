// Text -> token shards.
#include "data/prepare.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "data/token_files.h"
#include "data/token_meta.h"
#include "data/tokenizer.h"
#include "util/error.h"
#include "util/file_crc32.h"
#include "util/fs.h"

namespace scalebed {

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
  std::vector<uint32_t> tokens;
  int64_t bytes = 0;
  for (const auto& path : o.inputs) {
    const std::string text = read_file(path);
    bytes += static_cast<int64_t>(text.size());
    auto ids = tok->encode(text);
    tokens.insert(tokens.end(), ids.begin(), ids.end());
    if (o.eos) tokens.push_back(static_cast<uint32_t>(tok->eos_id()));  // a document ends
  }
  if (tokens.empty()) throw Error("prepare: the inputs hold no text");
  std::filesystem::create_directories(o.out_dir);
  const auto n_val = static_cast<int64_t>(tokens.size() * o.val_fraction);
  const int64_t n_train = static_cast<int64_t>(tokens.size()) - n_val;

  PrepareResult r;
  r.vocab = tok->vocab_size();
  r.train_tokens = n_train;
  r.val_tokens = n_val;
  auto write = [&](const std::string& prefix, int64_t begin, int64_t end) {
    int index = 0;
    for (int64_t s = begin; s < end; s += o.shard_tokens, ++index) {
      char name[64];
      std::snprintf(name, sizeof name, "%s_%06d.bin", prefix.c_str(), index);
      const std::string path = o.out_dir + "/" + name;
      write_llmc_shard(path,
                       std::vector<uint32_t>(tokens.begin() + s,
                                             tokens.begin() + std::min(end, s + o.shard_tokens)));
      r.files.push_back(path);
    }
  };
  write("train", 0, n_train);
  write("val", n_train, static_cast<int64_t>(tokens.size()));
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
      {"tokens", static_cast<int64_t>(tokens.size())},
      {"bytes", bytes},
      {"train_tokens", n_train},
      {"val_tokens", n_val},
      {"tool", "trainer prepare"}};
  write_file_atomic(o.out_dir + "/meta.json", meta.dump(2) + "\n");
  return r;
}

}  // namespace scalebed
