#include "tokenizer/jinja/lexer.h"

#include <array>
#include <charconv>
#include <string_view>

#include "tokenizer/jinja/unicode.h"

namespace tide::jinja {
namespace {

constexpr std::array<std::string_view, 6> kTwoCharOperators = {"**", "//", "==", "!=", ">=", "<="};
constexpr std::string_view kOneCharOperators = "+-/*%~[](){}><=.:|,;";

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

class Lexer {
 public:
  Lexer(const Source& source, const SyntaxOptions& options)
      : source_(source), text_(source.text), options_(options) {}

  std::vector<Token> run() {
    while (pos_ < text_.size()) {
      const size_t open = find_tag_open(pos_);
      if (open == std::string_view::npos) {
        add_data(text_.substr(pos_), pos_);
        break;
      }
      const char kind = text_[open + 1];
      const char sign = open + 2 < text_.size() && (text_[open + 2] == '-' || text_[open + 2] == '+') ? text_[open + 2] : 0;
      const size_t inside = open + 2 + (sign ? 1 : 0);
      add_data(strip_before_tag(text_.substr(pos_, open - pos_), sign, kind != '{'), pos_);
      pos_ = inside;
      if (kind == '#') {
        skip_comment(open);
      } else if (kind == '%' && at_raw_begin()) {
        lex_raw(open);
      } else {
        lex_tag(kind, open);
      }
    }
    tokens_.push_back(Token{TokenKind::End, static_cast<uint32_t>(text_.size()), {}});
    return std::move(tokens_);
  }

 private:
  size_t find_tag_open(size_t from) const {
    for (size_t at = text_.find('{', from); at != std::string_view::npos; at = text_.find('{', at + 1)) {
      if (at + 1 < text_.size() && (text_[at + 1] == '{' || text_[at + 1] == '%' || text_[at + 1] == '#')) return at;
    }
    return std::string_view::npos;
  }

  bool starts_with(std::string_view prefix) const { return text_.substr(pos_).starts_with(prefix); }

  // Advances past Python whitespace; returns whether the last character skipped was '\n'.
  bool skip_space() {
    bool newline_last = false;
    while (pos_ < text_.size()) {
      size_t next = pos_;
      const char32_t c = decode_utf8(text_, next);
      if (!is_python_space(c)) break;
      newline_last = c == '\n';
      pos_ = next;
    }
    return newline_last;
  }

  std::string_view strip_before_tag(std::string_view data, char sign, bool block_or_comment) const {
    if (sign == '-') return strip_python_space(data, false, true);
    if (sign == '+' || !options_.lstrip_blocks || !block_or_comment) return data;
    // lstrip_blocks: indentation is removed only when the tag is the first thing on its line.
    const size_t newline = data.rfind('\n');
    const size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
    if (line_start == 0 && !line_starting_) return data;
    const std::string_view indent = data.substr(line_start);
    if (!indent.empty() && strip_python_space(indent, true, false).empty()) return data.substr(0, line_start);
    return data;
  }

  void add_data(std::string_view data, size_t offset) {
    if (data.empty()) return;
    if (!tokens_.empty() && tokens_.back().kind == TokenKind::Data) {
      tokens_.back().text += data;
    } else {
      tokens_.push_back(Token{TokenKind::Data, static_cast<uint32_t>(offset), std::string(data)});
    }
  }

  // Consumes a block end ("%}", "-%}" or "+%}") if one starts at pos_.
  bool consume_block_end() {
    if (starts_with("+%}")) {
      pos_ += 3;
      line_starting_ = false;
    } else if (starts_with("-%}")) {
      pos_ += 3;
      line_starting_ = skip_space();
    } else if (starts_with("%}")) {
      pos_ += 2;
      line_starting_ = options_.trim_blocks && pos_ < text_.size() && text_[pos_] == '\n';
      if (line_starting_) ++pos_;
    } else {
      return false;
    }
    return true;
  }

  void skip_comment(size_t open) {
    for (; pos_ + 1 < text_.size(); ++pos_) {
      if (starts_with("+#}")) {
        pos_ += 3;
        line_starting_ = false;
        return;
      }
      if (starts_with("-#}")) {
        pos_ += 3;
        line_starting_ = skip_space();
        return;
      }
      if (starts_with("#}")) {
        pos_ += 2;
        line_starting_ = options_.trim_blocks && pos_ < text_.size() && text_[pos_] == '\n';
        if (line_starting_) ++pos_;
        return;
      }
    }
    source_.fail_at(static_cast<uint32_t>(open), "unclosed comment: missing '#}}'");
  }

  // At "raw %}" or "raw -%}" (after the "{%" and its sign).
  bool at_raw_begin() {
    const size_t saved = pos_;
    skip_space();
    bool raw = starts_with("raw") && !(pos_ + 3 < text_.size() && is_name_char(text_[pos_ + 3]));
    if (raw) {
      pos_ += 3;
      skip_space();
      raw = starts_with("-%}") || starts_with("%}");
    }
    pos_ = saved;
    return raw;
  }

  void lex_raw(size_t open) {
    skip_space();
    pos_ += 3;
    skip_space();
    // Unlike other block tags, "{% raw %}" keeps the newline after it.
    if (starts_with("-%}")) {
      pos_ += 3;
      line_starting_ = skip_space();
    } else {
      pos_ += 2;
      line_starting_ = false;
    }
    for (size_t at = find_tag_open(pos_); at != std::string_view::npos; at = find_tag_open(at + 1)) {
      if (text_[at + 1] != '%') continue;
      const char sign = at + 2 < text_.size() && (text_[at + 2] == '-' || text_[at + 2] == '+') ? text_[at + 2] : 0;
      const size_t body_start = pos_;
      pos_ = at + 2 + (sign ? 1 : 0);
      skip_space();
      if (starts_with("endraw")) {
        pos_ += 6;
        skip_space();
        if (starts_with("+%}") || starts_with("-%}") || starts_with("%}")) {
          // The body is stripped as text before a tag, before the tag end decides line_starting_.
          const std::string_view body = strip_before_tag(text_.substr(body_start, at - body_start), sign, true);
          consume_block_end();
          add_data(body, body_start);
          return;
        }
      }
      pos_ = body_start;
    }
    source_.fail_at(static_cast<uint32_t>(open), "unclosed 'raw' block: missing '{{% endraw %}}'");
  }

  void lex_tag(char kind, size_t open) {
    tokens_.push_back(Token{kind == '{' ? TokenKind::VariableBegin : TokenKind::BlockBegin,
                            static_cast<uint32_t>(open), {}});
    std::string brackets;  // closing brackets still expected, innermost last
    while (true) {
      skip_space();
      if (pos_ >= text_.size()) {
        source_.fail_at(static_cast<uint32_t>(open), "unclosed tag: missing '{}'", kind == '{' ? "}}" : "%}");
      }
      const uint32_t at = static_cast<uint32_t>(pos_);
      // Like Jinja, an end delimiter inside open brackets is read as operators: {{ {'a': {}} }}
      if (brackets.empty() && kind == '%' && consume_block_end()) {
        tokens_.push_back(Token{TokenKind::BlockEnd, at, {}});
        return;
      }
      if (brackets.empty() && kind == '{' && (starts_with("-}}") || starts_with("}}"))) {
        const bool strip_after = text_[pos_] == '-';
        pos_ += strip_after ? 3 : 2;
        line_starting_ = strip_after && skip_space();
        tokens_.push_back(Token{TokenKind::VariableEnd, at, {}});
        return;
      }
      const char c = text_[pos_];
      if (is_digit(c)) {
        lex_number();
      } else if (is_name_start(c)) {
        const size_t start = pos_;
        while (pos_ < text_.size() && is_name_char(text_[pos_])) ++pos_;
        tokens_.push_back(Token{TokenKind::Name, at, std::string(text_.substr(start, pos_ - start))});
      } else if (c == '\'' || c == '"') {
        lex_string();
      } else {
        lex_operator(brackets);
      }
    }
  }

  size_t scan_digits(size_t from, bool (*is_digit_of_base)(char)) const {
    size_t end = from;
    while (end < text_.size() && (is_digit_of_base(text_[end]) || (text_[end] == '_' && end > from &&
                                                                   end + 1 < text_.size() && is_digit_of_base(text_[end + 1])))) {
      ++end;
    }
    return end;
  }

  void lex_number() {
    const size_t start = pos_;
    const uint32_t at = static_cast<uint32_t>(start);
    int base = 10;
    if (text_[pos_] == '0' && pos_ + 1 < text_.size()) {
      const char prefix = static_cast<char>(text_[pos_ + 1] | 0x20);
      base = prefix == 'x' ? 16 : prefix == 'o' ? 8 : prefix == 'b' ? 2 : 10;
    }
    size_t end = scan_digits(start, is_digit);
    bool is_float = false;
    if (base != 10) {
      end = scan_digits(start + 2, is_hex);
    } else {
      if (end + 1 < text_.size() && text_[end] == '.' && is_digit(text_[end + 1])) {
        end = scan_digits(end + 1, is_digit);
        is_float = true;
      }
      if (end < text_.size() && (text_[end] | 0x20) == 'e') {
        size_t exponent = end + 1;
        if (exponent < text_.size() && (text_[exponent] == '+' || text_[exponent] == '-')) ++exponent;
        if (exponent < text_.size() && is_digit(text_[exponent])) {
          end = scan_digits(exponent, is_digit);
          is_float = true;
        }
      }
    }
    std::string digits;
    for (char c : text_.substr(base == 10 ? start : start + 2, end - (base == 10 ? start : start + 2))) {
      if (c != '_') digits += c;
    }
    pos_ = end;
    Token token{is_float ? TokenKind::Float : TokenKind::Integer, at, std::string(text_.substr(start, end - start))};
    const char* first = digits.data();
    const char* last = digits.data() + digits.size();
    const auto result = is_float ? std::from_chars(first, last, token.floating) : std::from_chars(first, last, token.integer, base);
    if (digits.empty() || result.ptr != last || result.ec != std::errc()) {
      source_.fail_at(at, "invalid or too large number '{}'", token.text);
    }
    tokens_.push_back(std::move(token));
  }

  // Python's unicode-escape decoding of a string literal body.
  void lex_string() {
    const char quote = text_[pos_];
    const uint32_t at = static_cast<uint32_t>(pos_);
    std::string value;
    ++pos_;
    while (true) {
      if (pos_ >= text_.size()) source_.fail_at(at, "unterminated string literal");
      const char c = text_[pos_++];
      if (c == quote) break;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (pos_ >= text_.size()) source_.fail_at(at, "unterminated string literal");
      const char escape = text_[pos_++];
      switch (escape) {
        case '\n': break;  // line continuation
        case '\\': value += '\\'; break;
        case '\'': value += '\''; break;
        case '"': value += '"'; break;
        case 'a': value += '\a'; break;
        case 'b': value += '\b'; break;
        case 'f': value += '\f'; break;
        case 'n': value += '\n'; break;
        case 'r': value += '\r'; break;
        case 't': value += '\t'; break;
        case 'v': value += '\v'; break;
        case 'x': append_hex_escape(value, 2, at); break;
        case 'u': append_hex_escape(value, 4, at); break;
        case 'U': append_hex_escape(value, 8, at); break;
        default:
          if (escape >= '0' && escape <= '7') {
            char32_t code = static_cast<char32_t>(escape - '0');
            for (int i = 0; i < 2 && pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '7'; ++i) {
              code = code * 8 + static_cast<char32_t>(text_[pos_++] - '0');
            }
            append_utf8(value, code);
          } else {
            value += '\\';  // Python keeps unknown escapes as written
            value += escape;
          }
      }
    }
    tokens_.push_back(Token{TokenKind::String, at, std::move(value)});
  }

  void append_hex_escape(std::string& value, int length, uint32_t at) {
    char32_t code = 0;
    for (int i = 0; i < length; ++i) {
      if (pos_ >= text_.size() || !is_hex(text_[pos_])) source_.fail_at(at, "truncated \\x/\\u/\\U escape in string literal");
      const char h = text_[pos_++];
      code = code * 16 + static_cast<char32_t>(is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    if (code > 0x10FFFF) source_.fail_at(at, "illegal Unicode character in string literal");
    // A lone surrogate has no UTF-8 form.
    append_utf8(value, code >= 0xD800 && code <= 0xDFFF ? 0xFFFD : code);
  }

  void lex_operator(std::string& brackets) {
    const uint32_t at = static_cast<uint32_t>(pos_);
    for (std::string_view op : kTwoCharOperators) {
      if (starts_with(op)) {
        pos_ += 2;
        tokens_.push_back(Token{TokenKind::Operator, at, std::string(op)});
        return;
      }
    }
    const char c = text_[pos_];
    if (kOneCharOperators.find(c) == std::string_view::npos) {
      size_t next = pos_;
      decode_utf8(text_, next);
      source_.fail_at(at, "unexpected character '{}'", text_.substr(pos_, next - pos_));
    }
    if (c == '(' || c == '[' || c == '{') brackets += c == '(' ? ')' : c == '[' ? ']' : '}';
    if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty()) source_.fail_at(at, "unexpected '{}'", c);
      if (brackets.back() != c) source_.fail_at(at, "unexpected '{}', expected '{}'", c, brackets.back());
      brackets.pop_back();
    }
    ++pos_;
    tokens_.push_back(Token{TokenKind::Operator, at, std::string(1, c)});
  }

  const Source& source_;
  std::string_view text_;
  SyntaxOptions options_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  bool line_starting_ = true;  // whether the text being read starts a line (for lstrip_blocks)
};

}  // namespace

std::vector<Token> tokenize(const Source& source, const SyntaxOptions& options) {
  return Lexer(source, options).run();
}

}  // namespace tide::jinja
