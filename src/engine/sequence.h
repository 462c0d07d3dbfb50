#pragma once
// One request's state inside the engine: its tokens (prompt, then generated), how many of them
// are in the KV cache, its block table, and its sampler and output processor.
#include <memory>
#include <optional>
#include <vector>

#include "engine/block_manager.h"
#include "engine/output_processor.h"
#include "engine/request.h"
#include "engine/sampler.h"

namespace tide {

struct Sequence {
  Sequence(uint64_t id, GenerationRequest req, std::shared_ptr<RequestStream> out, const tokenizer::Tokenizer& tok,
           uint64_t fallback_seed)
      : id(id),
        request(std::move(req)),
        stream(std::move(out)),
        tokens(request.prompt),
        prompt_len(static_cast<int64_t>(request.prompt.size())),
        sampler(request.sampling, fallback_seed),
        output(tok, request.stop, request.include_stop_str_in_output),
        arrival(Clock::now()) {}

  uint64_t id;
  GenerationRequest request;
  std::shared_ptr<RequestStream> stream;
  std::vector<int32_t> tokens;  // prompt + generated; after a preemption all are recomputed
  int64_t prompt_len;
  int64_t computed = 0;         // leading tokens whose KV is in the cache
  std::vector<int32_t> blocks;  // block table
  BlockManager::PrefixCursor prefix_cursor;
  bool running = false;
  bool finished = false;
  int64_t cached_prompt_tokens = 0;  // from the prefix cache at first admission
  int preemptions = 0;

  Sampler sampler;
  OutputProcessor output;

  Clock::time_point arrival;
  std::optional<Clock::time_point> first_scheduled, first_token, last_token;

  int64_t generated() const { return static_cast<int64_t>(tokens.size()) - prompt_len; }
  int64_t remaining_to_compute() const { return static_cast<int64_t>(tokens.size()) - computed; }
};

}  // namespace tide
