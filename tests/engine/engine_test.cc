// The engine loop end to end on a fixture model: continuous batching must not change what any
// request computes, whatever else runs beside it, and the cache must be returned in full.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <thread>

#include "engine/generate.h"

namespace tide {
namespace {

const std::string kModel = std::string(TIDE_FIXTURES_DIR) + "/models/deepseek-v3-tiny";

struct Outcome {
  std::vector<int32_t> tokens;
  std::string text;
  FinishReason finish = FinishReason::Error;
  int cached_prompt_tokens = 0;
};

Outcome collect(RequestStream& stream) {
  Outcome o;
  while (auto e = stream.pop(std::chrono::seconds(60))) {
    o.tokens.insert(o.tokens.end(), e->tokens.begin(), e->tokens.end());
    o.text += e->text;
    o.cached_prompt_tokens = e->cached_prompt_tokens;
    if (e->finish) {
      o.finish = *e->finish;
      return o;
    }
  }
  ADD_FAILURE() << "no finish event";
  return o;
}

class EngineTest : public ::testing::Test {
 protected:
  void start(EngineConfig config = {}) {
    tokenizer_ = std::make_shared<tokenizer::Tokenizer>(tokenizer::Tokenizer::from_directory(kModel));
    engine_ = std::make_unique<Engine>(load_model(kModel), tokenizer_, config, metrics_);
    engine_->start();
  }
  GenerationRequest greedy(std::vector<int32_t> prompt, int max_tokens) {
    GenerationRequest r;
    r.prompt = std::move(prompt);
    r.max_tokens = max_tokens;
    r.sampling.temperature = 0.f;
    r.ignore_eos = true;
    return r;
  }
  std::vector<int32_t> prompt_of(int length, int salt) {
    std::vector<int32_t> p;
    for (int i = 0; i < length; ++i) p.push_back((salt * 131 + i * 17 + 5) % 500 + 2);
    return p;
  }
  std::vector<int32_t> alone(const std::vector<int32_t>& prompt, int max_tokens) {
    static auto model = load_model(kModel);
    GenerateOptions options;
    options.max_tokens = max_tokens;
    options.sampling.temperature = 0.f;
    options.stop_at_eos = false;
    return generate(*model, prompt, options);
  }
  void expect_cache_returned() {
    for (int i = 0; i < 100 && engine_->snapshot().kv_blocks_free != engine_->snapshot().kv_blocks_total; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto s = engine_->snapshot();
    EXPECT_EQ(s.kv_blocks_free, s.kv_blocks_total);
    EXPECT_EQ(s.running, 0);
    EXPECT_EQ(s.waiting, 0);
  }

  double metric_value(const std::string& name) {
    const std::string text = metrics_.render();
    const auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
  }

  MetricsRegistry metrics_;
  std::shared_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, ConcurrentRequestsOfMixedLengthsGetTheSameTokensAsAlone) {
  EngineConfig config;
  config.scheduler.max_batched_tokens = 64;  // forces chunked prefill of the long prompts
  start(config);
  std::vector<std::shared_ptr<RequestStream>> streams;
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 32; ++i) {
    prompts.push_back(prompt_of(1 + (i * 37) % 150, i));
    streams.push_back(engine_->submit(greedy(prompts.back(), 8 + i % 5)));
  }
  for (int i = 0; i < 32; ++i) {
    auto o = collect(*streams[i]);
    EXPECT_EQ(o.finish, FinishReason::Length);
    EXPECT_EQ(o.tokens, alone(prompts[i], 8 + i % 5)) << "request " << i;
  }
  expect_cache_returned();
}

TEST_F(EngineTest, PreemptionUnderATinyCacheStillGivesTheSameTokens) {
  EngineConfig config;
  config.block_size = 4;
  const auto probe_model = load_model(kModel);
  const auto& probe = probe_model->config();
  config.kv_cache_bytes = std::size_t{4} * probe.kv_entry_dim() * sizeof(float) * probe.num_layers * 24;  // 24 blocks
  start(config);
  std::vector<std::shared_ptr<RequestStream>> streams;
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 6; ++i) {
    prompts.push_back(prompt_of(20 + i, 100 + i));
    streams.push_back(engine_->submit(greedy(prompts.back(), 12)));
  }
  for (int i = 0; i < 6; ++i) EXPECT_EQ(collect(*streams[i]).tokens, alone(prompts[i], 12)) << "request " << i;
  EXPECT_GT(metric_value("tide_num_preemptions_total"), 0);
  expect_cache_returned();
}

TEST_F(EngineTest, RepeatedPrefixHitsTheCacheWithIdenticalOutput) {
  start();
  auto prompt = prompt_of(70, 9);
  auto first = collect(*engine_->submit(greedy(prompt, 6)));
  auto second = collect(*engine_->submit(greedy(prompt, 6)));
  EXPECT_EQ(first.cached_prompt_tokens, 0);
  EXPECT_EQ(second.cached_prompt_tokens, 64);
  EXPECT_EQ(first.tokens, second.tokens);
  EXPECT_EQ(metric_value("tide_prefix_cache_hits_total"), 64);
}

TEST_F(EngineTest, CancelledRequestFreesItsBlocks) {
  start();
  auto stream = engine_->submit(greedy(prompt_of(40, 3), 200));
  ASSERT_TRUE(stream->pop(std::chrono::seconds(30)));
  stream->cancel();
  EXPECT_EQ(collect(*stream).finish, FinishReason::Cancelled);
  expect_cache_returned();
}

TEST_F(EngineTest, DeadlineEndsTheRequest) {
  start();
  auto r = greedy(prompt_of(10, 4), 200);
  r.deadline = Clock::now();
  EXPECT_EQ(collect(*engine_->submit(r)).finish, FinishReason::Deadline);
}

TEST_F(EngineTest, RefusesWhatCanNeverRunWith400AndOverloadWith429) {
  EngineConfig config;
  config.max_waiting_requests = 2;
  start(config);
  auto expect_status = [&](GenerationRequest r, int status) {
    try {
      engine_->submit(std::move(r));
      ADD_FAILURE() << "accepted";
    } catch (const AdmissionError& e) {
      EXPECT_EQ(e.status, status) << e.what();
    }
  };
  expect_status(greedy({}, 4), 400);
  expect_status(greedy({600}, 4), 400);  // outside the 512-token vocabulary
  expect_status(greedy(prompt_of(10, 1), 0), 400);
  expect_status(greedy(prompt_of(250, 1), 10), 400);  // beyond the 256-token context
  // Fill the queue faster than one engine step can drain it.
  std::vector<std::shared_ptr<RequestStream>> accepted;
  bool saw_429 = false;
  for (int i = 0; i < 200 && !saw_429; ++i) {
    try {
      accepted.push_back(engine_->submit(greedy(prompt_of(200, i), 50)));
    } catch (const AdmissionError& e) {
      EXPECT_EQ(e.status, 429);
      EXPECT_GT(e.retry_after_s, 0);
      saw_429 = true;
    }
  }
  EXPECT_TRUE(saw_429);
  for (auto& s : accepted) s->cancel();
  for (auto& s : accepted) collect(*s);
  // And it keeps serving afterwards.
  EXPECT_EQ(collect(*engine_->submit(greedy(prompt_of(5, 2), 3))).tokens.size(), 3u);
}

TEST_F(EngineTest, HighPriorityRequestOvertakesAQueueOfLowPriorityOnes) {
  EngineConfig config;
  config.scheduler.max_num_seqs = 1;
  start(config);
  // 200 tokens each (230 with the prompt, inside the 256-token context): for two of them to
  // finish before the count below, this thread would have to stall, submitting or collecting,
  // for some 400 engine steps rather than 40. They cost little: the high-priority one preempts
  // the one running, and all are cancelled at the end, the engine stopping without running
  // them out.
  std::vector<std::shared_ptr<RequestStream>> low;
  for (int i = 0; i < 6; ++i) low.push_back(engine_->submit(greedy(prompt_of(30, i), 200)));
  auto high_request = greedy(prompt_of(30, 99), 5);
  high_request.priority = 10;
  auto high = engine_->submit(high_request);
  collect(*high);
  // When the high-priority request finished, most low-priority ones had not.
  int finished_low = 0;
  for (auto& s : low)
    while (auto e = s->try_pop())
      if (e->finish) finished_low++;
  EXPECT_LE(finished_low, 1);
  for (auto& s : low) s->cancel();
}

}  // namespace
}  // namespace tide
