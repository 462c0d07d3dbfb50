// A small but complete byte-level BPE tokenizer.json, built in code so that tests can change one
// component at a time. Byte b is token b, so expected ids are easy to read; merges build "he",
// "ll", "hell", "hello" and "Ġw" (ids 256..260), and the added tokens are <bos> 261, <eos> 262
// (both special) and <tool> 263.
#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"

namespace tide::tokenizer::testing {

nlohmann::json tiny_tokenizer_json() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int byte = 0; byte < 256; ++byte) {
    vocab[std::string(ByteLevelAlphabet::instance().char_for(static_cast<unsigned char>(byte)))] =
        byte;
  }
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"Ġ", "w"}};
  int32_t next_id = 256;
  nlohmann::json merge_list = nlohmann::json::array();
  for (const auto& [left, right] : merges) {
    vocab[left + right] = next_id++;
    merge_list.push_back({left, right});
  }
  const auto added = [](int id, const char* content, bool special) {
    return nlohmann::json{{"id", id},          {"content", content},  {"single_word", false},
                          {"lstrip", false},   {"rstrip", false},     {"normalized", !special},
                          {"special", special}};
  };
  return {
      {"version", "1.0"},
      {"added_tokens", {added(261, "<bos>", true), added(262, "<eos>", true),
                        added(263, "<tool>", false)}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor",
       {{"type", "Sequence"},
        {"processors",
         {{{"type", "ByteLevel"}, {"trim_offsets", false}},
          {{"type", "TemplateProcessing"},
           {"single", {{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}},
                       {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
           {"pair", nlohmann::json::array()},
           {"special_tokens",
            {{"<bos>", {{"id", "<bos>"}, {"ids", {261}}, {"tokens", {"<bos>"}}}}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", nullptr},
        {"fuse_unk", false},
        {"byte_fallback", false},
        {"vocab", vocab},
        {"merges", merge_list}}},
  };
}

}  // namespace tide::tokenizer::testing
