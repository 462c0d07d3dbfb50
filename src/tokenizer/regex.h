#pragma once
// The pre-tokenizer patterns of tokenizer.json are Oniguruma regexes (what the Hugging Face
// library compiles them with) using Unicode classes and look-ahead. They are compiled here with
// PCRE2 in UTF + UCP mode, JIT-compiled when the platform allows it.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tide::tokenizer {

struct Span {
  size_t begin;
  size_t end;
};

class Regex {
 public:
  // Throws tide::Error naming `where` with PCRE2's message and the offset in the pattern.
  Regex(std::string_view pattern, std::string_view where);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // All non-overlapping matches in `text` (valid UTF-8), left to right. Empty matches are kept,
  // except one right where the previous match ended, as Oniguruma's iterator does.
  std::vector<Span> find_all(std::string_view text) const;

  // Whether the pattern matches at the very start of `text`.
  bool matches_at_start(std::string_view text) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
};

// Rewrites Oniguruma-isms that PCRE2 reads differently; see the definition for the list.
std::string translate_oniguruma_pattern(std::string_view pattern);

}  // namespace tide::tokenizer
