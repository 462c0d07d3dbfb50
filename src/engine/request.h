#pragma once
// What a client asks of the engine, and the stream of results it gets back.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampling_params.h"

namespace tide {

using Clock = std::chrono::steady_clock;

enum class FinishReason { Stop, Length, Cancelled, Deadline, Error };
const char* finish_reason_name(FinishReason reason);  // OpenAI's words: stop, length, ...

struct GenerationRequest {
  std::string id;  // for logs and metrics; the server's request id
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int max_tokens = 16;
  std::vector<std::string> stop;          // stop strings: output ends before the first match
  std::vector<int32_t> stop_token_ids;    // in addition to the model's EOS
  bool ignore_eos = false;
  bool include_stop_str_in_output = false;
  int priority = 0;                       // higher runs first and is preempted last
  std::optional<Clock::time_point> deadline;
  float presence_penalty = 0.f;
  float frequency_penalty = 0.f;
  float repetition_penalty = 1.f;
  int top_logprobs = -1;                  // -1: no logprobs; 0..20: sampled token plus that many alternatives
};

struct TokenLogprob {
  int32_t token;
  float logprob;
  std::vector<std::pair<int32_t, float>> top;  // most likely alternatives, best first
};

// One delivery to the client: newly final text and tokens, and, at the end, why it finished.
struct GenerationEvent {
  std::string text;
  std::vector<int32_t> tokens;
  std::vector<TokenLogprob> logprobs;
  std::optional<FinishReason> finish;
  std::string error;  // set with FinishReason::Error
  int prompt_tokens = 0;
  int cached_prompt_tokens = 0;
  int completion_tokens = 0;  // so far
};

// The consumer's side of one request. The engine pushes; the consumer pops, or registers a
// notifier (called on the engine thread, must not block) to be told when events arrive.
class RequestStream {
 public:
  void push(GenerationEvent event);
  // Waits up to `timeout` for the next event.
  std::optional<GenerationEvent> pop(std::chrono::milliseconds timeout);
  std::optional<GenerationEvent> try_pop();
  void set_notifier(std::function<void()> notifier);

  // Asks the engine to stop this request at its next step (client gone, or server shutdown).
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<GenerationEvent> events_;
  std::function<void()> notifier_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace tide
