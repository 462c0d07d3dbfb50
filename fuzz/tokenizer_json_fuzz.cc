// The tokenizer reads tokenizer.json from model directories and encodes/decodes untrusted text
// and ids. An input starting with '{' is a whole tokenizer.json (so the seed corpus is plain
// tokenizer files), which is loaded and, when it loads, used once. Otherwise the first byte
// picks what the rest is:
//   even: text and ids for a fixed valid tokenizer, checking the round-trip and streaming
//         contracts;
//   odd:  a pre-tokenizer regex, compiled into the fixed tokenizer and run over sample text.
// Rejecting input with tide::Error is the contract; any other exception, crash, sanitizer report
// or broken contract (reported with __builtin_trap) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/incremental_detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

using tide::tokenizer::IncrementalDetokenizer;
using tide::tokenizer::Tokenizer;

constexpr std::string_view kSampleText =
    "Hello, world! 123 4567 深度求索（DeepSeek）😀 <｜User｜>hi<｜Assistant｜>  \n\t x";

// A byte-level BPE tokenizer shaped like DeepSeek-V3's, small enough to load on every input.
nlohmann::json fixed_tokenizer_json(std::string_view split_pattern) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int byte = 0; byte < 256; ++byte) {
    vocab[std::string(tide::tokenizer::ByteLevelAlphabet::instance().char_for(
        static_cast<unsigned char>(byte)))] = byte;
  }
  nlohmann::json merges = nlohmann::json::array();
  int id = 256;
  for (const auto& [left, right] : std::vector<std::pair<std::string, std::string>>{
           {"H", "e"}, {"l", "l"}, {"He", "ll"}, {"Hell", "o"}, {"Ġ", "w"}, {"ä", "¸"}}) {
    vocab[left + right] = id++;
    merges.push_back({left, right});
  }
  const auto added = [](int token_id, const char* content, bool special) {
    return nlohmann::json{{"id", token_id}, {"content", content}, {"special", special},
                          {"normalized", !special}};
  };
  const auto split = [](std::string_view pattern) {
    return nlohmann::json{{"type", "Split"},
                          {"pattern", {{"Regex", pattern}}},
                          {"behavior", "Isolated"},
                          {"invert", false}};
  };
  return {
      {"added_tokens", {added(id, "<｜begin▁of▁sentence｜>", true), added(id + 1, "<｜User｜>", false),
                        added(id + 2, "<｜Assistant｜>", false)}},
      {"normalizer", {{"type", "Sequence"}, {"normalizers", nlohmann::json::array()}}},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {split("\\p{N}{1,3}"), split(split_pattern),
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<bos>"}}}}, {{"Sequence", {{"id", "A"}}}}}},
        {"special_tokens", {{"<bos>", {{"id", "<bos>"}, {"ids", {id}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
  };
}

constexpr std::string_view kDeepSeekPattern =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

const Tokenizer& fixed_tokenizer() {
  static const Tokenizer tokenizer =
      Tokenizer::from_json(fixed_tokenizer_json(kDeepSeekPattern).dump(), "fixed.json");
  return tokenizer;
}

void require(bool condition) {
  if (!condition) __builtin_trap();
}

void exercise(const Tokenizer& tokenizer, std::string_view text) {
  const std::vector<int32_t> ids = tokenizer.encode(text, /*add_special_tokens=*/true);
  tokenizer.decode(ids, /*skip_special_tokens=*/true);
}

// Streaming must reproduce decode() exactly, in pieces that are each valid UTF-8.
void check_streaming(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  IncrementalDetokenizer stream(tokenizer);
  std::string text;
  for (const int32_t id : ids) {
    const std::string piece = stream.push(id);
    require(tide::tokenizer::is_valid_utf8(piece));
    text += piece;
  }
  text += stream.finish();
  require(text == tokenizer.decode(ids));
}

void fuzz_text_and_ids(std::string_view input) {
  const Tokenizer& tokenizer = fixed_tokenizer();
  const std::vector<int32_t> ids = tokenizer.encode(input);
  const std::string decoded = tokenizer.decode(ids);
  // Byte-level BPE without normalization loses nothing on valid UTF-8.
  if (tide::tokenizer::is_valid_utf8(input)) require(decoded == input);
  require(tide::tokenizer::is_valid_utf8(decoded));
  check_streaming(tokenizer, ids);

  std::vector<int32_t> raw_ids(input.size() / sizeof(int32_t));
  // An empty vector's data() may be null, which memcpy must never see.
  if (!raw_ids.empty()) {
    std::memcpy(raw_ids.data(), input.data(), raw_ids.size() * sizeof(int32_t));
  }
  for (int32_t& id : raw_ids) {
    // Mostly valid ids, so that decoding is reached, with some just out of range.
    id = static_cast<int32_t>(static_cast<uint32_t>(id) % (tokenizer.vocab_size() + 2));
  }
  check_streaming(tokenizer, raw_ids);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view rest = input.substr(1);
  try {
    if (input.front() == '{') {
      exercise(Tokenizer::from_json(input, "fuzz/tokenizer.json"), kSampleText);
    } else if (data[0] % 2 == 0) {
      fuzz_text_and_ids(rest);
    } else if (tide::tokenizer::is_valid_utf8(rest)) {  // JSON strings are UTF-8
      exercise(Tokenizer::from_json(fixed_tokenizer_json(rest).dump(), "fuzz/regex.json"),
               kSampleText);
    }
  } catch (const tide::Error&) {
  }
  return 0;
}
