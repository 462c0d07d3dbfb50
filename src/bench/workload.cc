#include "bench/workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/error.h"

namespace tide::bench {
namespace {

// Common short English words: each, with its leading space, is a single token in the
// DeepSeek, Llama 3 and Qwen vocabularies, so N words are close to N tokens. Plain words also
// keep chat templates and detokenizers on their ordinary path.
constexpr std::string_view kWords[] = {
    "the",   "of",    "and",   "to",    "in",    "is",    "that",  "for",   "it",    "as",    "was",   "with",  "be",
    "by",    "on",    "not",   "he",    "this",  "are",   "or",    "his",   "from",  "at",    "which", "but",   "have",
    "an",    "had",   "they",  "you",   "were",  "their", "one",   "all",   "we",    "can",   "her",   "has",   "there",
    "been",  "if",    "more",  "when",  "will",  "would", "who",   "so",    "no",    "time",  "out",   "up",    "some",
    "into",  "new",   "them",  "than",  "only",  "its",   "other", "then",  "also",  "two",   "may",   "first", "any",
    "like",  "now",   "my",    "such",  "made",  "over",  "these", "most",  "after", "even",  "very",  "many",  "where",
    "just",  "those", "good",  "could", "well",  "work",  "people", "year", "each",  "much",  "back",  "long",  "day",
    "way",   "down",  "world", "life",  "great", "still", "own",   "old",   "never", "last",  "same",  "water", "house",
    "left",  "light", "place", "small", "found", "hand",  "high",  "part",  "city",  "name",  "land",  "open",  "read",
    "home",  "word",  "line",  "turn",  "river", "story", "green", "table", "road",  "music", "field", "night", "stone"};

constexpr int kMaxLength = 1'000'000;

int parse_int(std::string_view text, std::string_view spec, std::string_view option) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    fail("{} '{}': '{}' is not a whole number", option, spec, text);
  if (value < 1 || value > kMaxLength) fail("{} '{}': lengths must be in [1, {}], not {}", option, spec, kMaxLength, value);
  return value;
}

void append_words(std::string& text, int count, Random& random) {
  for (int i = 0; i < count; ++i) {
    if (!text.empty()) text += ' ';
    text += kWords[random.next() % std::size(kWords)];
  }
}

void append_ids(std::vector<int32_t>& ids, int count, const WorkloadConfig& config, Random& random) {
  for (int i = 0; i < count; ++i) ids.push_back(static_cast<int32_t>(random.uniform_int(config.id_low, config.id_high)));
}

}  // namespace

std::string LengthSpec::text() const {
  switch (kind) {
    case Kind::fixed: return fmt::format("fixed:{}", a);
    case Kind::uniform: return fmt::format("uniform:{},{}", a, b);
    case Kind::longtail: return fmt::format("longtail:{},{}", a, b);
  }
  return {};
}

LengthSpec parse_length_spec(std::string_view spec, std::string_view option) {
  const auto colon = spec.find(':');
  if (colon == std::string_view::npos) {
    const int n = parse_int(spec, spec, option);
    return {LengthSpec::Kind::fixed, n, n};
  }
  const std::string_view kind = spec.substr(0, colon);
  const std::string_view args = spec.substr(colon + 1);
  const auto comma = args.find(',');
  if (kind == "fixed") {
    if (comma != std::string_view::npos) fail("{} '{}': fixed takes one number: fixed:N", option, spec);
    const int n = parse_int(args, spec, option);
    return {LengthSpec::Kind::fixed, n, n};
  }
  if (kind != "uniform" && kind != "longtail")
    fail("{} '{}': unknown distribution '{}' (use fixed:N, uniform:A,B or longtail:MEAN,MAX)", option, spec, kind);
  if (comma == std::string_view::npos) fail("{} '{}': {} takes two numbers: {}", option, spec, kind,
                                            kind == "uniform" ? "uniform:A,B" : "longtail:MEAN,MAX");
  const int a = parse_int(args.substr(0, comma), spec, option);
  const int b = parse_int(args.substr(comma + 1), spec, option);
  if (kind == "uniform") {
    if (a > b) fail("{} '{}': the low end {} is above the high end {}", option, spec, a, b);
    return {LengthSpec::Kind::uniform, a, b};
  }
  if (a > b) fail("{} '{}': the mean {} is above the cap {}", option, spec, a, b);
  return {LengthSpec::Kind::longtail, a, b};
}

int sample_length(const LengthSpec& spec, Random& random) {
  switch (spec.kind) {
    case LengthSpec::Kind::fixed: return spec.a;
    case LengthSpec::Kind::uniform: return static_cast<int>(random.uniform_int(spec.a, spec.b));
    case LengthSpec::Kind::longtail: {
      // The lognormal's mean is exp(mu + sigma^2 / 2); sigma 1 puts about 1 request in 20 above
      // 3.5x the mean.
      const double mu = std::log(static_cast<double>(spec.a)) - 0.5;
      const double x = std::round(std::exp(mu + random.normal()));
      return static_cast<int>(std::clamp(x, 1.0, static_cast<double>(spec.b)));
    }
  }
  return spec.a;
}

std::vector<RequestSpec> build_workload(const WorkloadConfig& config) {
  if (config.num_requests < 1) fail("--num-requests must be at least 1, not {}", config.num_requests);
  if ((config.shared_prefix_groups > 0) != (config.shared_prefix_len > 0))
    fail("--shared-prefix-groups and --shared-prefix-len go together: both positive, or both left out");
  if (config.shared_prefix_groups < 0 || config.shared_prefix_len < 0 || config.shared_prefix_len > kMaxLength)
    fail("--shared-prefix-groups and --shared-prefix-len must be positive (length at most {})", kMaxLength);
  if (config.prompt_ids && (config.id_low < 0 || config.id_low > config.id_high))
    fail("--prompt-id-range {},{}: needs 0 <= LOW <= HIGH", config.id_low, config.id_high);

  Random lengths(derive_seed(config.seed, 1));
  Random contents(derive_seed(config.seed, 2));

  // One prefix per group, made once: the server sees byte-identical (token-identical) prefixes.
  std::vector<RequestSpec> prefixes(config.shared_prefix_groups);
  for (int g = 0; g < config.shared_prefix_groups; ++g) {
    Random prefix_random(derive_seed(config.seed, 1000 + g));
    if (config.prompt_ids) append_ids(prefixes[g].prompt_ids, config.shared_prefix_len, config, prefix_random);
    else append_words(prefixes[g].prompt, config.shared_prefix_len, prefix_random);
  }

  std::vector<RequestSpec> requests(config.num_requests);
  for (int i = 0; i < config.num_requests; ++i) {
    RequestSpec& r = requests[i];
    const int own = sample_length(config.prompt_len, lengths);
    r.output_len = sample_length(config.output_len, lengths);
    r.prompt_len = own;
    if (config.shared_prefix_groups > 0) {
      r.group = i % config.shared_prefix_groups;
      r.prompt = prefixes[r.group].prompt;
      r.prompt_ids = prefixes[r.group].prompt_ids;
      r.prompt_len += config.shared_prefix_len;
    }
    if (config.prompt_ids) append_ids(r.prompt_ids, own, config, contents);
    else append_words(r.prompt, own, contents);
  }
  return requests;
}

}  // namespace tide::bench
