#pragma once
// What `tide bench serve` asks for: each request's prompt and output length, drawn from a
// distribution, and its prompt, built deterministically from the seed. Prompts are words from a
// fixed list (about one token per word on BPE vocabularies, so text lengths are approximate) or,
// for /v1/completions, token-id arrays whose length is exact.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/random.h"

namespace tide::bench {

// A length distribution as written on the command line:
//   fixed:N          always N
//   uniform:A,B      uniform over [A, B]
//   longtail:M,MAX   lognormal (sigma 1) with mean M, clipped to [1, MAX]: most requests near
//                    M, a few far longer, as in real chat and RAG traffic
// A bare number N means fixed:N.
struct LengthSpec {
  enum class Kind { fixed, uniform, longtail };
  Kind kind = Kind::fixed;
  int a = 1;  // fixed: the length; uniform: the low end; longtail: the mean
  int b = 1;  // uniform: the high end; longtail: the cap; fixed: equal to a

  std::string text() const;  // the spec as written, for reports
  int max() const { return kind == Kind::fixed ? a : b; }
};

// Throws tide::Error naming `option` (e.g. "--prompt-len") when `spec` is malformed.
LengthSpec parse_length_spec(std::string_view spec, std::string_view option);

int sample_length(const LengthSpec& spec, Random& random);

struct WorkloadConfig {
  int num_requests = 100;
  LengthSpec prompt_len{LengthSpec::Kind::fixed, 128, 128};
  LengthSpec output_len{LengthSpec::Kind::fixed, 128, 128};
  // Requests are spread round-robin over `shared_prefix_groups` groups; every prompt of a group
  // starts with the same `shared_prefix_len` tokens, then `prompt_len` tokens of its own.
  // Zero groups: every prompt is unique from its first token.
  int shared_prefix_groups = 0;
  int shared_prefix_len = 0;
  bool prompt_ids = false;  // token-id arrays instead of text
  // Token ids are drawn from [id_low, id_high]: away from the special tokens that vocabularies
  // keep at their start or end, and inside the vocabulary of the model under test.
  int id_low = 1000;
  int id_high = 30000;
  uint64_t seed = 0;
};

struct RequestSpec {
  std::string prompt;              // text prompts
  std::vector<int32_t> prompt_ids; // --prompt-ids prompts
  int prompt_len = 0;              // tokens intended (shared prefix included)
  int output_len = 0;              // sent as max_tokens
  int group = -1;                  // shared-prefix group, -1 if none
};

// Throws tide::Error on an inconsistent config (naming the option).
std::vector<RequestSpec> build_workload(const WorkloadConfig& config);

}  // namespace tide::bench
