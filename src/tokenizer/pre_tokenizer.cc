#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "common/error.h"

namespace tide::tokenizer {
namespace {

// The GPT-2 word pattern that ByteLevel applies when "use_regex" is true.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

SplitBehavior parse_behavior(const JsonField& field) {
  static constexpr std::array<std::pair<std::string_view, SplitBehavior>, 5> kNames = {{
      {"Removed", SplitBehavior::kRemoved},
      {"Isolated", SplitBehavior::kIsolated},
      {"MergedWithPrevious", SplitBehavior::kMergedWithPrevious},
      {"MergedWithNext", SplitBehavior::kMergedWithNext},
      {"Contiguous", SplitBehavior::kContiguous},
  }};
  const std::string_view name = field.as_string();
  for (const auto& [known, behavior] : kNames) {
    if (name == known) return behavior;
  }
  field.fail(fmt::format("unknown split behavior \"{}\" (expected Removed, Isolated, "
                         "MergedWithPrevious, MergedWithNext or Contiguous)",
                         name));
}

std::string escape_literal(std::string_view literal) {
  std::string pattern;
  for (const char c : literal) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80 && !std::isalnum(byte)) pattern.push_back('\\');
    pattern.push_back(c);
  }
  return pattern;
}

struct Segment {
  Span span;
  bool is_match;
};

// The pieces of `text` between and at the matches, covering all of it.
std::vector<Segment> segments(const Regex& pattern, std::string_view text, bool invert) {
  std::vector<Segment> result;
  size_t previous = 0;
  for (const Span& match : pattern.find_all(text)) {
    if (previous != match.begin) result.push_back({{previous, match.begin}, invert});
    result.push_back({match, !invert});
    previous = match.end;
  }
  if (previous != text.size()) result.push_back({{previous, text.size()}, invert});
  return result;
}

// Applies the delimiter behaviour; returns the spans to keep, in order.
std::vector<Span> apply_behavior(const std::vector<Segment>& segments, SplitBehavior behavior) {
  std::vector<Span> kept;
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Segment& segment : segments) kept.push_back(segment.span);
      break;
    case SplitBehavior::kRemoved:
      for (const Segment& segment : segments) {
        if (!segment.is_match) kept.push_back(segment.span);
      }
      break;
    case SplitBehavior::kContiguous:
      for (const Segment& segment : segments) {
        if (!kept.empty() && segment.is_match == previous_match) {
          kept.back().end = segment.span.end;
        } else {
          kept.push_back(segment.span);
        }
        previous_match = segment.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Segment& segment : segments) {
        if (!kept.empty() && segment.is_match && !previous_match) {
          kept.back().end = segment.span.end;
        } else {
          kept.push_back(segment.span);
        }
        previous_match = segment.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      // The mirror image of MergedWithPrevious: walk from the end and glue forwards.
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (!kept.empty() && it->is_match && !previous_match) {
          kept.back().begin = it->span.begin;
        } else {
          kept.push_back(it->span);
        }
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
  }
  return kept;
}

}  // namespace

PreTokenizer PreTokenizer::from_json(const std::optional<JsonField>& pre_tokenizer,
                                     std::string_view origin) {
  PreTokenizer result;
  if (pre_tokenizer) result.collect(*pre_tokenizer);
  if (!result.byte_level_seen_) {
    tide::fail("{}: pre_tokenizer: no ByteLevel step (only byte-level BPE tokenizers are "
               "supported)", origin);
  }
  return result;
}

void PreTokenizer::collect(const JsonField& pre_tokenizer) {
  const JsonField type_field = pre_tokenizer["type"];
  const std::string_view type = type_field.as_string();
  if (byte_level_seen_) {
    type_field.fail(fmt::format(
        "a {} step after ByteLevel is not supported (it would see byte-level text)", type));
  }
  if (type == "Sequence") {
    const JsonField steps = pre_tokenizer["pretokenizers"];
    for (size_t i = 0; i < steps.array_size(); ++i) collect(steps.element(i));
  } else if (type == "Split") {
    add_split(pre_tokenizer);
  } else if (type == "Digits") {
    // The reference tests char::is_numeric, i.e. \p{N}; a run of digits stays together
    // unless individual_digits is set.
    const bool individual = pre_tokenizer.optional_bool("individual_digits", false);
    steps_.push_back({Regex(individual ? R"(\p{N})" : R"(\p{N}+)", type_field.location()),
                      SplitBehavior::kIsolated, false, false});
  } else if (type == "ByteLevel") {
    add_byte_level(pre_tokenizer);
  } else {
    type_field.fail(fmt::format("unsupported pre-tokenizer type \"{}\"", type));
  }
}

void PreTokenizer::add_split(const JsonField& split) {
  const JsonField pattern = split["pattern"];
  pattern.require_object();
  std::string source;
  if (const auto regex = pattern.find("Regex")) {
    source = std::string(regex->as_string());
  } else if (const auto literal = pattern.find("String")) {
    source = escape_literal(literal->as_string());
  } else {
    pattern.fail("expected {\"Regex\": ...} or {\"String\": ...}");
  }
  steps_.push_back({Regex(source, pattern.location()), parse_behavior(split["behavior"]),
                    split.optional_bool("invert", false), false});
}

void PreTokenizer::add_byte_level(const JsonField& byte_level) {
  byte_level_seen_ = true;
  Step step;
  step.prefix_space = byte_level.optional_bool("add_prefix_space", true);
  if (byte_level.optional_bool("use_regex", true)) step.pattern.emplace(kGpt2Pattern, "GPT-2 pattern");
  steps_.push_back(std::move(step));
}

void PreTokenizer::split(std::string_view text,
                         const std::function<void(std::string_view)>& word) const {
  if (!text.empty()) apply_from(0, text, word);
}

// Depth first, one step per level, so that pieces stay views into the text and only a piece
// that gains a prefix space is ever copied.
void PreTokenizer::apply_from(size_t step_index, std::string_view piece,
                              const std::function<void(std::string_view)>& word) const {
  if (step_index == steps_.size()) {
    word(piece);
    return;
  }
  const Step& step = steps_[step_index];
  std::string prefixed;
  if (step.prefix_space && piece.front() != ' ') {
    prefixed.reserve(piece.size() + 1);
    prefixed.append(" ").append(piece);
    piece = prefixed;
  }
  if (!step.pattern) {
    apply_from(step_index + 1, piece, word);
    return;
  }
  for (const Span& span : apply_behavior(segments(*step.pattern, piece, step.invert), step.behavior)) {
    if (span.end > span.begin) {
      apply_from(step_index + 1, piece.substr(span.begin, span.end - span.begin), word);
    }
  }
}

}  // namespace tide::tokenizer
