#pragma once
// The engine: one thread that runs iteration-level continuous batching. Each step it admits
// waiting requests, schedules decode tokens and prefill chunks under a token budget, runs one
// forward pass over the ragged batch, samples, and streams results to each request's
// RequestStream. Clients submit from any thread.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "engine/block_manager.h"
#include "engine/engine_metrics.h"
#include "engine/request.h"
#include "engine/scheduler.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace tide {

struct EngineConfig {
  int block_size = 16;
  std::size_t kv_cache_bytes = std::size_t{256} << 20;  // memory for the paged KV cache
  bool prefix_caching = true;
  SchedulerConfig scheduler;
  // Admission limits: beyond them submit() refuses at once (429 or 400), never later with an
  // out-of-memory.
  int max_waiting_requests = 1024;
  int64_t max_waiting_tokens = 1 << 20;
  int max_prompt_tokens = 0;   // 0: the model's context length
  int max_tokens_cap = 0;      // 0: the model's context length
};

// Why a request was refused at submission; `status` is the HTTP status to answer with.
class AdmissionError : public std::runtime_error {
 public:
  AdmissionError(int status, const std::string& message, int retry_after_s = 0)
      : std::runtime_error(message), status(status), retry_after_s(retry_after_s) {}
  int status;         // 400 (the request can never run) or 429 (overloaded now; retry)
  int retry_after_s;  // for 429
};

struct EngineSnapshot {
  int running = 0;
  int waiting = 0;
  double kv_usage = 0.0;
  int kv_blocks_total = 0;
  int kv_blocks_free = 0;
  uint64_t steps = 0;
};

class Engine {
 public:
  Engine(std::unique_ptr<Model> model, std::shared_ptr<const tokenizer::Tokenizer> tokenizer, EngineConfig config,
         MetricsRegistry& metrics);
  ~Engine();

  void start();
  // Cancels everything in flight and joins the engine thread.
  void stop();

  // Validates and queues a request; throws AdmissionError when it must be refused.
  std::shared_ptr<RequestStream> submit(GenerationRequest request);

  const ModelConfig& model_config() const { return model_->config(); }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  EngineSnapshot snapshot() const;
  // When the engine loop last completed a step or found nothing to do; a wedged loop stops
  // advancing this, which /health reports.
  Clock::time_point last_progress() const { return Clock::time_point(Clock::duration(last_progress_.load())); }
  int max_context() const { return model_->config().max_position_embeddings; }

 private:
  void loop();
  void step();
  void admit_submissions();
  // Finishes sequences whose client cancelled or whose deadline passed.
  void drop_cancelled();
  // The next token from the sequence's row of logits, through its penalties and sampler. Touches
  // nothing but the sequence's own sampler, so sequences sample in parallel.
  static int32_t sample_next(Sequence& seq, std::span<const float> logits);
  // Appends `token`, streams its text, and finishes the sequence when a stop condition holds.
  // `logits` (its row, empty when the model picked the token) serve the logprobs asked for.
  void emit_token(Sequence& seq, std::span<const float> logits, int32_t token);
  // A request whose tokens the model can pick where the logits are (Model::step): greedy, or a
  // plain draw at a temperature (no top-k, top-p or min-p), with no penalties and no logprobs.
  static bool picks_on_model(const GenerationRequest& r);
  static bool penalised(const GenerationRequest& r);
  // Sends the final event, records metrics and releases the blocks; the sequence is erased
  // from sequences_ by the caller's sweep.
  void finish(Sequence& seq, FinishReason reason, const std::string& error = {});
  void sweep_finished();
  void update_gauges();

  std::unique_ptr<Model> model_;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
  EngineConfig config_;
  EngineMetrics metrics_;
  std::unique_ptr<KvCache> cache_;
  std::unique_ptr<BlockManager> blocks_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<std::unique_ptr<Sequence>> sequences_;  // every unfinished sequence

  mutable std::mutex submit_mutex_;
  std::condition_variable wake_;
  std::vector<std::unique_ptr<Sequence>> submitted_;
  int64_t waiting_tokens_ = 0;  // prompt tokens queued but not yet admitted (guarded by submit_mutex_)
  std::atomic<int> waiting_count_{0};
  std::atomic<int> running_count_{0};
  std::atomic<uint64_t> steps_{0};
  std::atomic<Clock::rep> last_progress_{0};
  std::atomic<bool> stopping_{false};
  uint64_t next_seq_id_ = 0;
  std::thread thread_;
};

}  // namespace tide
