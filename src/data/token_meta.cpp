// meta.json of prepared token shards (see token_meta.h).
#include "data/token_meta.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/fs.h"

namespace scalebed {

std::optional<TokenMeta> read_token_meta(const std::string& shards) {
  const std::string path = (std::filesystem::path(shards).parent_path() / "meta.json").string();
  if (!std::filesystem::exists(path)) return std::nullopt;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail_at(path, "not JSON: ", e.what());
  }
  if (!j.is_object() || !j.contains("format") || j["format"] != kTokenMetaFormat) {
    fail_at(path, "not a scalebed token-shard description (\"format\": \"", kTokenMetaFormat,
            "\" expected)");
  }
  TokenMeta m;
  m.path = path;
  // An optional integer field: absent or null gives `missing`.
  auto integer = [&](const char* key, int64_t missing, int64_t min_value) -> int64_t {
    if (!j.contains(key) || j[key].is_null()) return missing;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < min_value) {
      fail_at(path, "\"", key, "\" must be an integer >= ", min_value, " or null");
    }
    return j[key].get<int64_t>();
  };
  const int64_t version = integer("format_version", 0, 0);
  if (version < 1 || version > kTokenMetaVersion) {
    fail_at(path, "format_version ", version, " is not one this trainer reads (1..",
            kTokenMetaVersion, ")");
  }
  m.vocab = integer("vocab", 0, 1);
  if (m.vocab == 0) fail_at(path, "needs \"vocab\", the tokenizer's vocabulary size");
  m.eos_id = integer("eos_id", -1, 0);
  m.mask_id = integer("mask_id", -1, 0);
  for (const auto& [name, id] : {std::pair{"eos_id", m.eos_id}, std::pair{"mask_id", m.mask_id}}) {
    if (id >= m.vocab) fail_at(path, "\"", name, "\" ", id, " is outside \"vocab\" ", m.vocab);
  }
  m.tokens = integer("tokens", 0, 0);
  m.bytes = integer("bytes", 0, 0);
  if (j.contains("tokenizer") && j["tokenizer"].is_string()) m.tokenizer = j["tokenizer"];
  const int64_t crc = integer("tokenizer_crc32", -1, 0);
  if (crc >= 0) m.tokenizer_crc32 = static_cast<uint32_t>(crc);
  return m;
}

}  // namespace scalebed
