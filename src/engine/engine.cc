#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "common/error.h"

namespace tide {

Engine::Engine(std::unique_ptr<Model> model, std::shared_ptr<const tokenizer::Tokenizer> tokenizer, EngineConfig config,
               MetricsRegistry& metrics)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)), config_(config), metrics_(metrics) {
  const ModelConfig& c = model_->config();
  const std::size_t block_bytes = model_->kv_cache_block_bytes(config_.block_size);
  const std::size_t num_blocks = config_.kv_cache_bytes / block_bytes;
  if (num_blocks < 2)
    fail("--kv-cache-memory {} bytes holds fewer than 2 blocks of {} bytes; give it more memory", config_.kv_cache_bytes,
         block_bytes);
  cache_ = model_->make_kv_cache(static_cast<int>(num_blocks), config_.block_size);
  blocks_ = std::make_unique<BlockManager>(static_cast<int>(num_blocks), config_.block_size, config_.prefix_caching);
  scheduler_ = std::make_unique<Scheduler>(config_.scheduler, *blocks_);
  if (config_.max_prompt_tokens <= 0) config_.max_prompt_tokens = c.max_position_embeddings;
  if (config_.max_tokens_cap <= 0) config_.max_tokens_cap = c.max_position_embeddings;
  metrics_.kv_blocks_total.set(static_cast<double>(num_blocks));
  metrics_.kv_blocks_free.set(static_cast<double>(num_blocks));
  spdlog::info("KV cache: {} blocks of {} tokens ({:.1f} MB on {}, {} tokens in all)", num_blocks, config_.block_size,
               cache_->bytes() / 1e6, model_->device_description(), num_blocks * config_.block_size);
  last_progress_.store(Clock::now().time_since_epoch().count());
}

Engine::~Engine() { stop(); }

void Engine::start() { thread_ = std::thread([this] { loop(); }); }

void Engine::stop() {
  stopping_.store(true);
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

EngineSnapshot Engine::snapshot() const {
  EngineSnapshot s;
  s.running = running_count_.load();
  s.waiting = waiting_count_.load();
  s.kv_blocks_total = static_cast<int>(metrics_.kv_blocks_total.value());
  s.kv_blocks_free = static_cast<int>(metrics_.kv_blocks_free.value());
  s.kv_usage = metrics_.kv_usage.value();
  s.steps = steps_.load();
  return s;
}

std::shared_ptr<RequestStream> Engine::submit(GenerationRequest request) {
  auto reject = [&](int status, const std::string& reason, const std::string& message) {
    metrics_.requests_rejected.labels({reason}).inc();
    return AdmissionError(status, message, status == 429 ? 1 : 0);
  };
  const ModelConfig& c = model_->config();
  const int64_t prompt = static_cast<int64_t>(request.prompt.size());
  if (prompt == 0) throw reject(400, "invalid", "the prompt is empty");
  for (int32_t t : request.prompt)
    if (t < 0 || t >= c.vocab_size)
      throw reject(400, "invalid", fmt::format("prompt token id {} is outside the vocabulary (0..{})", t, c.vocab_size - 1));
  if (prompt > config_.max_prompt_tokens)
    throw reject(400, "invalid", fmt::format("the prompt has {} tokens; this server accepts at most {}", prompt,
                                             config_.max_prompt_tokens));
  if (request.max_tokens < 1 || request.max_tokens > config_.max_tokens_cap)
    throw reject(400, "invalid", fmt::format("max_tokens must be between 1 and {}", config_.max_tokens_cap));
  if (prompt + request.max_tokens > c.max_position_embeddings)
    throw reject(400, "invalid",
                 fmt::format("this model's maximum context length is {} tokens; the prompt has {} and max_tokens asks "
                             "for {} more",
                             c.max_position_embeddings, prompt, request.max_tokens));
  const int64_t blocks_needed = (prompt + request.max_tokens + config_.block_size - 1) / config_.block_size;
  if (blocks_needed > blocks_->num_blocks())
    throw reject(400, "invalid",
                 fmt::format("prompt plus max_tokens needs {} tokens of KV cache but the server holds {} in all",
                             prompt + request.max_tokens, int64_t{blocks_->num_blocks()} * config_.block_size));
  try {
    validate(request.sampling);
  } catch (const Error& e) {
    throw reject(400, "invalid", e.what());
  }

  auto stream = std::make_shared<RequestStream>();
  {
    std::lock_guard lock(submit_mutex_);
    if (stopping_.load()) throw reject(503, "shutting_down", "the server is shutting down");
    if (waiting_count_.load() + static_cast<int>(submitted_.size()) >= config_.max_waiting_requests)
      throw reject(429, "overloaded", fmt::format("{} requests are already waiting; retry later or elsewhere",
                                                  config_.max_waiting_requests));
    if (waiting_tokens_ + prompt > config_.max_waiting_tokens)
      throw reject(429, "overloaded", "too many prompt tokens are already waiting; retry later or elsewhere");
    waiting_tokens_ += prompt;
    static thread_local std::mt19937_64 seeds{std::random_device{}()};
    submitted_.push_back(std::make_unique<Sequence>(next_seq_id_++, std::move(request), stream, *tokenizer_, seeds()));
  }
  wake_.notify_one();
  return stream;
}

void Engine::admit_submissions() {
  std::vector<std::unique_ptr<Sequence>> fresh;
  {
    std::lock_guard lock(submit_mutex_);
    fresh.swap(submitted_);
  }
  for (auto& seq : fresh) {
    scheduler_->add(seq.get());
    sequences_.push_back(std::move(seq));
  }
}

void Engine::loop() {
  while (!stopping_.load()) {
    admit_submissions();
    drop_cancelled();
    if (scheduler_->num_running() == 0 && scheduler_->num_waiting() == 0) {
      std::unique_lock lock(submit_mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_.load() || !submitted_.empty(); });
    } else {
      step();
    }
    last_progress_.store(Clock::now().time_since_epoch().count());
  }
  admit_submissions();
  for (auto& seq : sequences_) finish(*seq, FinishReason::Cancelled);
  sweep_finished();
}

}  // namespace tide
