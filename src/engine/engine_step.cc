// One engine step: schedule, run the model over the ragged batch, sample, stream.
#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>

#include "common/error.h"
#include "engine/engine.h"
#include "engine/logits_processing.h"
#include "tensor/gumbel.h"

namespace tide {
namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

void Engine::step() {
  const auto started = Clock::now();
  const double cpu_started = thread_cpu_seconds();

  auto chunks = scheduler_->schedule();
  metrics_.preemptions.inc(scheduler_->take_preemptions());
  if (chunks.empty()) {
    update_gauges();
    return;
  }
  Batch batch;
  int64_t prefill_tokens = 0;
  for (const auto& chunk : chunks) {
    Sequence& seq = *chunk.seq;
    if (!seq.first_scheduled) {
      seq.first_scheduled = started;
      metrics_.queue_time.observe(seconds_between(seq.arrival, started));
    }
    batch.tokens.insert(batch.tokens.end(), seq.tokens.begin() + seq.computed,
                        seq.tokens.begin() + seq.computed + chunk.num_tokens);
    // The model picks the token itself (on a GPU only its id comes back) where the request asks
    // for nothing but plain logits: greedy, or a draw at a temperature with no top-k, top-p or
    // min-p; and for a prefill chunk short of the prompt's end, whose token is not wanted.
    const bool last_chunk = seq.computed + chunk.num_tokens == static_cast<int64_t>(seq.tokens.size());
    const bool model_picks = !last_chunk || picks_on_model(seq.request);
    const bool sampled = last_chunk && model_picks && !seq.request.sampling.greedy();
    batch.sequences.push_back({.num_tokens = chunk.num_tokens,
                               .start_position = seq.computed,
                               .block_table = seq.blocks,
                               .pick = model_picks,
                               .temperature = sampled ? seq.request.sampling.temperature : 0.f,
                               .seed = sampled ? step_seed(seq.sampler.seed(), seq.generated()) : 0});
    if (seq.computed < seq.prompt_len) prefill_tokens += std::min(chunk.num_tokens, seq.prompt_len - seq.computed);
  }
  metrics_.scheduler_seconds.observe(thread_cpu_seconds() - cpu_started);

  StepOutput output;
  try {
    output = model_->step(batch, *cache_);
    const auto rows = static_cast<std::size_t>(batch.num_unpicked_logit_rows());
    if (output.next_tokens.size() != batch.sequences.size() ||
        output.logits.size() != rows * static_cast<std::size_t>(model_->config().vocab_size))
      throw Error(fmt::format("the model returned {} tokens and {} logits for {} sequences", output.next_tokens.size(),
                              output.logits.size(), batch.sequences.size()));
  } catch (const std::exception& e) {
    spdlog::error("forward pass failed: {}", e.what());
    for (const auto& chunk : chunks) finish(*chunk.seq, FinishReason::Error, "internal error in the forward pass");
    sweep_finished();
    return;
  }

  // Which sequences get a token this step (a chunk that reaches the end of the known tokens), and
  // the token the model picked or the logits to sample it from.
  const int64_t vocab = model_->config().vocab_size;
  const std::size_t n = chunks.size();
  std::vector<int32_t> next(n, -1);
  std::vector<std::span<const float>> rows(n);
  std::vector<char> emits(n, 0);
  int64_t logits_row = 0;  // rows come only for the sequences that were not greedy
  for (std::size_t i = 0; i < n; ++i) {
    Sequence& seq = *chunks[i].seq;
    seq.computed += chunks[i].num_tokens;
    blocks_->register_full_blocks(seq.blocks, seq.tokens, seq.computed, seq.prefix_cursor);
    next[i] = output.next_tokens[i];
    if (next[i] < 0) rows[i] = {output.logits.data() + logits_row++ * vocab, static_cast<std::size_t>(vocab)};
    emits[i] = seq.computed == static_cast<int64_t>(seq.tokens.size());
  }
  // Sampling on the host, every sequence at once: each has its own sampler, and one row of a
  // 100k vocabulary takes about a millisecond.
  std::vector<std::string> failures(n);
  std::size_t sampled = 0;
  for (std::size_t i = 0; i < n; ++i) sampled += emits[i] && next[i] < 0;
#pragma omp parallel for schedule(dynamic) if (sampled > 1)
  for (std::size_t i = 0; i < n; ++i) {
    if (!emits[i] || next[i] >= 0) continue;
    try {
      next[i] = sample_next(*chunks[i].seq, rows[i]);
    } catch (const std::exception& e) {
      failures[i] = e.what();
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!emits[i]) continue;
    Sequence& seq = *chunks[i].seq;
    try {
      if (!failures[i].empty()) throw Error(failures[i]);
      emit_token(seq, rows[i], next[i]);
    } catch (const std::exception& e) {
      // One request's failure (sampling, detokenizing) ends that request, never the engine.
      spdlog::error("request {}: {}", seq.request.id, e.what());
      finish(seq, FinishReason::Error, "internal error while producing the next token");
    }
  }
  metrics_.prompt_tokens.inc(static_cast<double>(prefill_tokens));
  metrics_.step_tokens.observe(static_cast<double>(batch.tokens.size()));
  metrics_.prefix_queries.inc(static_cast<double>(blocks_->prefix_queried_tokens()) - metrics_.prefix_queries.value());
  metrics_.prefix_hits.inc(static_cast<double>(blocks_->prefix_hit_tokens()) - metrics_.prefix_hits.value());
  sweep_finished();
  steps_++;
  metrics_.step_seconds.observe(seconds_between(started, Clock::now()));
}

bool Engine::picks_on_model(const GenerationRequest& r) {
  if (penalised(r) || r.top_logprobs >= 0) return false;
  const SamplingParams& s = r.sampling;
  return s.greedy() || (s.top_k <= 0 && s.top_p >= 1.f && s.min_p <= 0.f);
}

bool Engine::penalised(const GenerationRequest& r) {
  return r.repetition_penalty != 1.f || r.presence_penalty != 0.f || r.frequency_penalty != 0.f;
}

int32_t Engine::sample_next(Sequence& seq, std::span<const float> logits) {
  const GenerationRequest& r = seq.request;
  if (!penalised(r)) return seq.sampler.sample(logits);
  std::span<const int32_t> prompt(seq.tokens.data(), static_cast<std::size_t>(seq.prompt_len));
  std::span<const int32_t> generated(seq.tokens.data() + seq.prompt_len, static_cast<std::size_t>(seq.generated()));
  return seq.sampler.sample(apply_penalties(logits, prompt, generated, r));
}

void Engine::emit_token(Sequence& seq, std::span<const float> logits, int32_t token) {
  const GenerationRequest& r = seq.request;
  seq.tokens.push_back(token);

  const auto now = Clock::now();
  if (!seq.first_token) {
    seq.first_token = now;
    metrics_.ttft.observe(seconds_between(seq.arrival, now));
  } else {
    metrics_.itl.observe(seconds_between(*seq.last_token, now));
  }
  seq.last_token = now;
  metrics_.generation_tokens.inc();

  GenerationEvent event;
  event.tokens = {token};
  if (r.top_logprobs >= 0) event.logprobs.push_back(logprobs_of(logits, token, r.top_logprobs));
  const auto& eos = model_->config().eos_token_ids;
  const bool is_eos = std::find(eos.begin(), eos.end(), token) != eos.end();
  const bool is_stop_token = std::find(r.stop_token_ids.begin(), r.stop_token_ids.end(), token) != r.stop_token_ids.end();

  std::optional<FinishReason> reason;
  if ((is_eos && !r.ignore_eos) || is_stop_token) {
    reason = FinishReason::Stop;
    event.text = seq.output.finish();  // text held back as a possible stop-string prefix
  } else {
    auto delta = seq.output.push(token);
    event.text = std::move(delta.text);
    if (delta.stopped) reason = FinishReason::Stop;
  }
  if (!reason && (seq.generated() >= r.max_tokens || static_cast<int64_t>(seq.tokens.size()) >= max_context()))
    reason = FinishReason::Length;

  event.prompt_tokens = static_cast<int>(seq.prompt_len);
  event.cached_prompt_tokens = static_cast<int>(seq.cached_prompt_tokens);
  event.completion_tokens = static_cast<int>(seq.generated());
  if (reason) {
    // The final event carries the last token and any held-back text.
    if (*reason == FinishReason::Length) event.text += seq.output.finish();
    event.finish = reason;
    seq.stream->push(std::move(event));
    finish(seq, *reason);
  } else {
    seq.stream->push(std::move(event));
  }
}

void Engine::finish(Sequence& seq, FinishReason reason, const std::string& error) {
  if (seq.finished) return;
  seq.finished = true;
  const auto now = Clock::now();
  // A stop from emit_token already delivered its final event; others are announced here.
  if (reason != FinishReason::Stop && reason != FinishReason::Length) {
    GenerationEvent event;
    event.finish = reason;
    event.error = error;
    event.prompt_tokens = static_cast<int>(seq.prompt_len);
    event.cached_prompt_tokens = static_cast<int>(seq.cached_prompt_tokens);
    event.completion_tokens = static_cast<int>(seq.generated());
    seq.stream->push(std::move(event));
  }
  metrics_.requests_finished.labels({finish_reason_name(reason)}).inc();
  metrics_.e2e.observe(seconds_between(seq.arrival, now));
  metrics_.request_prompt_tokens.observe(static_cast<double>(seq.prompt_len));
  metrics_.request_generation_tokens.observe(static_cast<double>(seq.generated()));
  scheduler_->remove(&seq);
}

void Engine::drop_cancelled() {
  const auto now = Clock::now();
  for (auto& seq : sequences_) {
    if (seq->stream->cancelled())
      finish(*seq, FinishReason::Cancelled);
    else if (seq->request.deadline && now > *seq->request.deadline)
      finish(*seq, FinishReason::Deadline);
  }
  sweep_finished();
}

void Engine::sweep_finished() {
  std::erase_if(sequences_, [](const auto& seq) { return seq->finished; });
  update_gauges();
}

void Engine::update_gauges() {
  const int running = scheduler_->num_running(), waiting = scheduler_->num_waiting();
  running_count_.store(running);
  waiting_count_.store(waiting);
  metrics_.running.set(running);
  metrics_.waiting.set(waiting);
  metrics_.kv_usage.set(blocks_->usage());
  metrics_.kv_blocks_free.set(blocks_->free_blocks());
  // Prompt tokens of requests not yet admitted count against the waiting-token limit.
  int64_t queued_tokens = 0;
  for (const auto& seq : sequences_)
    if (!seq->running && !seq->first_scheduled) queued_tokens += seq->prompt_len;
  std::lock_guard lock(submit_mutex_);
  for (const auto& seq : submitted_) queued_tokens += seq->prompt_len;
  waiting_tokens_ = queued_tokens;
}

}  // namespace tide
