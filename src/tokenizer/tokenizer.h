#pragma once
// A Hugging Face tokenizer.json (byte-level BPE, as used by DeepSeek, Llama 3 and Qwen) loaded
// into an immutable object: encode text to ids and decode ids to text, producing exactly what the
// Hugging Face "tokenizers" library produces. Copies share the loaded data and every method is
// const, so one instance can serve many threads.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tide::tokenizer {

class Tokenizer {
 public:
  // Loads tokenizer.json text. Throws tide::Error naming `origin` on any problem, including
  // components this build does not implement (they are rejected, never approximated).
  static Tokenizer from_json(std::string_view tokenizer_json_text, std::string_view origin);
  static Tokenizer from_file(const std::filesystem::path& tokenizer_json_path);
  // Loads DIR/tokenizer.json and, when present, DIR/tokenizer_config.json for the BOS/EOS tokens
  // and add_bos_token.
  static Tokenizer from_directory(const std::filesystem::path& dir);

  // Added tokens in `text` (e.g. "<｜User｜>") always become their single id. With
  // add_special_tokens the post-processor's template is applied (for the DeepSeek-V3
  // tokenizer.json that adds nothing; for Llama 3 it prepends BOS). Bytes of `text` that are not
  // valid UTF-8 are tokenized as U+FFFD, as if the text had been decoded with replacement.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = false) const;

  // Concatenates the tokens' bytes and replaces invalid UTF-8 with U+FFFD exactly as the
  // ByteLevel decoder does (Rust's String::from_utf8_lossy). Throws tide::Error for an id
  // outside 0..vocab_size()-1. Ids inside that range that name no token decode to nothing.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // One past the largest id of the vocab and the added tokens.
  int32_t vocab_size() const;
  // Whether `id` names a token. A model's output layer may have more rows than the tokenizer
  // has tokens (DeepSeek-V3 pads 128,815 tokens to 129,280 rows); an id it generates past the
  // tokenizer's last stands for nothing, as in Hugging Face tokenizers, and callers decoding
  // generated ids check this first.
  bool names(int32_t id) const { return id >= 0 && id < vocab_size(); }
  // The id of a vocab entry or added token written exactly as `token` (alphabet form for BPE
  // entries, e.g. "Ġthe").
  std::optional<int32_t> token_id(std::string_view token) const;
  // The token as written in tokenizer.json (empty for an id no token uses); throws tide::Error
  // for an out-of-range id.
  std::string_view token_text(int32_t id) const;
  // The bytes the token stands for (byte-level decoded); throws for an out-of-range id.
  std::string_view token_bytes(int32_t id) const;
  // Whether the id is an added token marked "special" (what skip_special_tokens drops).
  bool is_special(int32_t id) const;

  // From tokenizer_config.json (from_directory only): the BOS/EOS ids, and whether Hugging Face
  // transformers would prepend BOS. encode() itself follows tokenizer.json alone, like the
  // tokenizers library; callers wanting transformers' behaviour prepend bos_id() themselves.
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  bool add_bos_token() const;

  // A completion prompt as transformers (and so vLLM) encodes it: encode() with special tokens,
  // then BOS prepended when tokenizer_config.json asks for it and it is not already there.
  std::vector<int32_t> encode_prompt(std::string_view text) const;

  // Where the tokenizer was loaded from, for messages.
  const std::string& origin() const;

  struct Data;

 private:
  explicit Tokenizer(std::shared_ptr<const Data> data);
  std::shared_ptr<const Data> data_;
};

}  // namespace tide::tokenizer
