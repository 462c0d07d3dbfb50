#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>

#include "common/error.h"
#include "tokenizer/utf8.h"

namespace tide::tokenizer {
namespace {

std::string pcre2_message(int error_code) {
  std::array<PCRE2_UCHAR, 256> buffer{};
  const int length = pcre2_get_error_message(error_code, buffer.data(), buffer.size());
  if (length < 0) return fmt::format("PCRE2 error {}", error_code);
  return std::string(reinterpret_cast<const char*>(buffer.data()), static_cast<size_t>(length));
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

// Only the overall match is ever read, so one ovector pair suffices for every pattern; keeping
// one per thread avoids an allocation per pre-tokenized piece while staying thread-safe.
pcre2_match_data* thread_match_data() {
  thread_local std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(
      pcre2_match_data_create(1, nullptr));
  if (!data) fail("out of memory allocating regex match data");
  return data.get();
}

// Oniguruma's Unicode \s is the White_Space property, which includes U+0085 (NEL); PCRE2's
// excludes it. Its \w is Letter|Mark|Number|Connector_Punctuation; PCRE2's lacks marks and all
// connectors but "_". Each class escape is spelled out so both engines agree. The negated forms
// cannot be widened inside a bracket class and are left as they are there.
struct EscapeTranslation {
  char escape;
  std::string_view outside_class;
  std::string_view inside_class;  // empty: leave unchanged
};
constexpr std::array kEscapeTranslations = {
    EscapeTranslation{'s', R"([\s\x{85}])", R"(\s\x{85})"},
    EscapeTranslation{'S', R"([^\s\x{85}])", ""},
    EscapeTranslation{'w', R"([\p{L}\p{M}\p{N}\p{Pc}])", R"(\p{L}\p{M}\p{N}\p{Pc})"},
    EscapeTranslation{'W', R"([^\p{L}\p{M}\p{N}\p{Pc}])", ""},
};

}  // namespace

std::string translate_oniguruma_pattern(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 16);
  int class_depth = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char escape = pattern[++i];
      std::string_view replacement;
      for (const EscapeTranslation& translation : kEscapeTranslations) {
        if (translation.escape == escape) {
          replacement = class_depth > 0 ? translation.inside_class : translation.outside_class;
        }
      }
      if (replacement.empty()) {
        out.push_back('\\');
        out.push_back(escape);
      } else {
        out.append(replacement);
      }
      continue;
    }
    if (c == '[') {
      ++class_depth;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);
      continue;
    }
    if (c == ']' && class_depth > 0) --class_depth;
    out.push_back(c);
  }
  return out;
}

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

Regex::Regex(std::string_view pattern, std::string_view where)
    : compiled_(std::make_unique<Compiled>()) {
  const std::string translated = translate_oniguruma_pattern(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  // MULTILINE: in Oniguruma '^' and '$' always match at line boundaries. NEVER_BACKSLASH_C:
  // \C could end a match inside a character, and the pieces must stay valid UTF-8.
  constexpr uint32_t kOptions =
      PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE | PCRE2_NEVER_BACKSLASH_C;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()),
                                  translated.size(), kOptions, &error_code, &error_offset, nullptr);
  if (compiled_->code == nullptr) {
    fail("{}: invalid regex /{}/: {} (at offset {})", where, pattern, pcre2_message(error_code),
         error_offset);
  }
  // Without JIT support (or when it fails for this pattern) the interpreter is used instead.
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

namespace {

// Returns false when there is no match at or after `start`.
bool match_from(pcre2_code* code, std::string_view text, size_t start, uint32_t options,
                Span& match) {
  pcre2_match_data* data = thread_match_data();
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  options |= PCRE2_NO_UTF_CHECK;  // callers only pass validated UTF-8
  int rc = pcre2_match(code, subject, text.size(), start, options, data, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    // The JIT stack is small and fixed; the interpreter keeps its backtracking on the heap.
    rc = pcre2_match(code, subject, text.size(), start, options | PCRE2_NO_JIT, data, nullptr);
  }
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  // rc == 0 only says the ovector had no room for capture groups; the overall match is there.
  if (rc < 0) {
    fail("regex match failed on a {}-byte piece of text: {}", text.size(), pcre2_message(rc));
  }
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
  match = {ovector[0], ovector[1]};
  return true;
}

size_t utf8_char_length_at(std::string_view text, size_t pos) {
  if (pos >= text.size()) return 1;
  return next_utf8_sequence(text.substr(pos)).length;
}

}  // namespace

std::vector<Span> Regex::find_all(std::string_view text) const {
  std::vector<Span> matches;
  size_t search_from = 0;
  bool have_previous = false;
  size_t previous_end = 0;
  Span match{};
  while (search_from <= text.size() && match_from(compiled_->code, text, search_from, 0, match)) {
    if (match.begin == match.end && have_previous && previous_end == match.end) {
      search_from += utf8_char_length_at(text, search_from);
      continue;
    }
    matches.push_back(match);
    search_from = match.end;
    previous_end = match.end;
    have_previous = true;
  }
  return matches;
}

bool Regex::matches_at_start(std::string_view text) const {
  Span match{};
  return match_from(compiled_->code, text, 0, PCRE2_ANCHORED, match);
}

}  // namespace tide::tokenizer
