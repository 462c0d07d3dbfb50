// The API server end to end over loopback, against a scripted engine: routes, response and
// stream shapes, errors and their statuses, health, readiness, draining and cancellation.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "common/error.h"
#include "common/http/client.h"
#include "server/api_server.h"

namespace tide::server {
namespace {
using namespace std::chrono_literals;
using Json = nlohmann::json;

const std::string kModelDir = TIDE_FIXTURES_DIR "/models/deepseek-v3-tiny";

GenerationEvent event(std::string text, int completion_tokens, std::optional<FinishReason> finish = std::nullopt) {
  GenerationEvent e;
  e.text = std::move(text);
  e.tokens = {5};
  e.prompt_tokens = 3;
  e.cached_prompt_tokens = 1;
  e.completion_tokens = completion_tokens;
  e.finish = finish;
  return e;
}

// Answers each request by a script; a background thread plays the engine's part in
// cancellation: a cancelled stream gets its Cancelled event.
class ScriptedService : public GenerationService {
 public:
  using Script = std::function<void(const GenerationRequest&, RequestStream&)>;

  ScriptedService() {
    engine_ = std::thread([this] {
      while (!stop_) {
        {
          std::lock_guard lock(mutex_);
          for (auto& [stream, done] : streams_)
            if (stream->cancelled() && !done) {
              stream->push(event("", 0, FinishReason::Cancelled));
              done = true;
            }
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  ~ScriptedService() override {
    stop_ = true;
    engine_.join();
  }

  std::shared_ptr<RequestStream> submit(GenerationRequest request) override {
    std::lock_guard lock(mutex_);
    if (refuse) throw *refuse;
    auto stream = std::make_shared<RequestStream>();
    script(request, *stream);
    submitted.push_back(std::move(request));
    streams_.emplace_back(stream, false);
    return stream;
  }
  Clock::time_point last_progress() const override { return progress; }

  std::vector<std::shared_ptr<RequestStream>> streams() {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<RequestStream>> out;
    for (auto& [s, done] : streams_) out.push_back(s);
    return out;
  }

  Script script = [](const GenerationRequest&, RequestStream& s) {
    s.push(event("Hel", 1));
    s.push(event("lo", 2, FinishReason::Stop));
  };
  std::optional<AdmissionError> refuse;
  std::vector<GenerationRequest> submitted;
  std::atomic<Clock::time_point> progress{Clock::now()};

 private:
  std::mutex mutex_;
  std::vector<std::pair<std::shared_ptr<RequestStream>, bool>> streams_;
  std::atomic<bool> stop_{false};
  std::thread engine_;
};

class ApiServerTest : public ::testing::Test {
 protected:
  ApiServerTest()
      : tokenizer_(tokenizer::Tokenizer::from_directory(kModelDir)),
        prompts_(tokenizer_, ChatTemplate::from_tokenizer_config(kModelDir + "/tokenizer_config.json")) {}

  void start(ServerConfig config = {}) {
    config.served_model_name = "tiny";
    config.http.port = 0;
    server_ = std::make_unique<ApiServer>(config, service_, prompts_, ModelInfo{256}, metrics_);
    server_->start();
  }
  void TearDown() override {
    if (server_) server_->stop(1s);
  }
  http::Client client() { return http::Client("127.0.0.1", server_->port(), 10s); }
  http::Response post(const std::string& path, const std::string& body, const http::Headers& headers = {}) {
    return client().post_json(path, body, headers);
  }
  // The data of every SSE event of a streamed POST.
  std::vector<std::string> stream(const std::string& path, const std::string& body) {
    std::vector<std::string> events;
    auto head = client().post_sse(path, body, [&](const std::string& data) {
      events.push_back(data);
      return true;
    });
    EXPECT_EQ(head.result(), http::Status::ok) << head.body();
    return events;
  }

  tokenizer::Tokenizer tokenizer_;
  PromptBuilder prompts_;
  MetricsRegistry metrics_;
  ScriptedService service_;
  std::unique_ptr<ApiServer> server_;
};

void expect_error(const http::Response& r, int status, const std::string& param = "", const std::string& code = "") {
  EXPECT_EQ(r.result_int(), status) << r.body();
  EXPECT_EQ(r[http::Field::content_type], "application/json");
  const Json body = Json::parse(r.body());
  ASSERT_TRUE(body.contains("error")) << r.body();
  EXPECT_TRUE(body["error"]["message"].is_string());
  EXPECT_TRUE(body["error"]["type"].is_string());
  if (!param.empty()) {
    EXPECT_EQ(body["error"]["param"], param) << r.body();
  }
  if (!code.empty()) {
    EXPECT_EQ(body["error"]["code"], code) << r.body();
  }
}

TEST_F(ApiServerTest, Completion) {
  start();
  auto r = post("/v1/completions", R"({"model": "tiny", "prompt": "Hello", "max_tokens": 5})");
  ASSERT_EQ(r.result(), http::Status::ok) << r.body();
  const Json body = Json::parse(r.body());
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["id"], "cmpl-" + std::string(r["X-Request-Id"]));
  EXPECT_EQ(body["model"], "tiny");
  EXPECT_EQ(body["choices"][0]["text"], "Hello");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(body["usage"]["completion_tokens"], 2);
  EXPECT_EQ(body["usage"]["prompt_tokens_details"]["cached_tokens"], 1);
  ASSERT_EQ(service_.submitted.size(), 1u);
  EXPECT_EQ(service_.submitted[0].prompt, tokenizer_.encode_prompt("Hello"));
  EXPECT_EQ(service_.submitted[0].max_tokens, 5);
}

TEST_F(ApiServerTest, SeveralPromptsAndChoices) {
  start();
  auto r = post("/v1/completions", R"({"prompt": [[1, 2], [3]], "n": 2, "seed": 4})");
  ASSERT_EQ(r.result(), http::Status::ok) << r.body();
  const Json body = Json::parse(r.body());
  ASSERT_EQ(body["choices"].size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(body["choices"][i]["index"], i);
  EXPECT_EQ(body["usage"]["prompt_tokens"], 6);  // each prompt once
  EXPECT_EQ(body["usage"]["completion_tokens"], 8);
  ASSERT_EQ(service_.submitted.size(), 4u);
  EXPECT_EQ(*service_.submitted[1].sampling.seed, 5u);
}

TEST_F(ApiServerTest, ChatRendersTheTemplateAndSplitsReasoning) {
  service_.script = [](const GenerationRequest&, RequestStream& s) {
    s.push(event("I thi", 1));
    s.push(event("nk</th", 2));
    s.push(event("ink>Ans", 3));
    s.push(event("wer", 4, FinishReason::Length));
  };
  start();
  auto r = post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "2+2?"}]})");
  ASSERT_EQ(r.result(), http::Status::ok) << r.body();
  const Json body = Json::parse(r.body());
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "Answer");
  EXPECT_EQ(body["choices"][0]["message"]["reasoning_content"], "I think");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  const auto expected = tokenizer_.encode("<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜>", false);
  EXPECT_EQ(service_.submitted[0].prompt, expected);
  EXPECT_EQ(service_.submitted[0].max_tokens, 256 - static_cast<int>(expected.size()));
}

TEST_F(ApiServerTest, ReasoningParserOff) {
  service_.script = [](const GenerationRequest&, RequestStream& s) { s.push(event("a</think>b", 1, FinishReason::Stop)); };
  ServerConfig config;
  config.reasoning = ReasoningMode::None;
  start(config);
  const Json body = Json::parse(post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}]})").body());
  EXPECT_EQ(body["choices"][0]["message"]["content"], "a</think>b");
  EXPECT_FALSE(body["choices"][0]["message"].contains("reasoning_content"));
}

TEST_F(ApiServerTest, ChatStream) {
  service_.script = [](const GenerationRequest&, RequestStream& s) {
    s.push(event("why</th", 1));
    s.push(event("ink>be", 2));
    s.push(event("cause", 3, FinishReason::Stop));
  };
  start();
  auto events = stream("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "stream": true,
      "stream_options": {"include_usage": true}})");
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  const Json first = Json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  std::string reasoning, content;
  std::optional<std::string> finish;
  for (std::size_t i = 0; i + 2 < events.size(); ++i) {
    const Json chunk = Json::parse(events[i]);
    EXPECT_TRUE(chunk.contains("usage") && chunk["usage"].is_null()) << events[i];
    const Json& choice = chunk["choices"][0];
    if (choice["delta"].contains("reasoning_content")) reasoning += choice["delta"]["reasoning_content"];
    if (choice["delta"].contains("content")) content += choice["delta"]["content"];
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
  }
  EXPECT_EQ(reasoning, "why");
  EXPECT_EQ(content, "because");
  EXPECT_EQ(finish, "stop");
  const Json usage = Json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 3);
  EXPECT_EQ(usage["usage"]["total_tokens"], 6);
}

TEST_F(ApiServerTest, CompletionStream) {
  start();
  auto events = stream("/v1/completions", R"({"prompt": "x", "stream": true, "n": 2})");
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text[2];
  int finishes = 0;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    const Json chunk = Json::parse(events[i]);
    EXPECT_EQ(chunk["object"], "text_completion");
    EXPECT_FALSE(chunk.contains("usage"));
    const int index = chunk["choices"][0]["index"];
    text[index] += chunk["choices"][0]["text"];
    if (!chunk["choices"][0]["finish_reason"].is_null()) ++finishes;
  }
  EXPECT_EQ(text[0], "Hello");
  EXPECT_EQ(text[1], "Hello");
  EXPECT_EQ(finishes, 2);
}

TEST_F(ApiServerTest, Logprobs) {
  service_.script = [](const GenerationRequest&, RequestStream& s) {
    auto e = event("a", 1, FinishReason::Stop);
    e.logprobs.push_back({5, -0.25f, {{5, -0.25f}, {6, -2.f}}});
    s.push(std::move(e));
  };
  start();
  Json body = Json::parse(post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}],
      "logprobs": true, "top_logprobs": 2})").body());
  ASSERT_EQ(service_.submitted.back().top_logprobs, 2);
  ASSERT_EQ(body["choices"][0]["logprobs"]["content"].size(), 1u);
  EXPECT_EQ(body["choices"][0]["logprobs"]["content"][0]["top_logprobs"].size(), 2u);
  body = Json::parse(post("/v1/completions", R"({"prompt": "x", "logprobs": 1})").body());
  EXPECT_EQ(body["choices"][0]["logprobs"]["token_logprobs"][0], -0.25);
}

TEST_F(ApiServerTest, ErrorsInOpenAiShape) {
  ServerConfig config;
  config.http.max_body_bytes = 4096;
  start(config);
  expect_error(post("/v1/completions", R"({"model": "gpt-4", "prompt": "x"})"), 404, "model", "model_not_found");
  expect_error(post("/v1/completions", "{not json"), 400);
  expect_error(post("/v1/completions", R"({"prompt": "x", "n": 1000})"), 400, "n");
  expect_error(post("/v1/completions", R"({"prompt": "x", "temperature": "hot"})"), 400, "temperature");
  expect_error(post("/v1/chat/completions", R"({"messages": []})"), 400, "messages");
  expect_error(post("/v1/completions", std::string(100, '[') + std::string(100, ']')), 400);
  expect_error(post("/v1/completions", "{\"prompt\": \"\xc3\x28\"}"), 400);
  expect_error(post("/v1/completions", R"({"prompt": ")" + std::string(5000, 'x') + "\"}"), 413);
  expect_error(client().get("/v1/nothing"), 404);
  auto wrong_method = client().get("/v1/completions");
  expect_error(wrong_method, 405);
  EXPECT_EQ(wrong_method[http::Field::allow], "POST");
  expect_error(post("/health", "{}"), 405);
  EXPECT_TRUE(service_.submitted.empty());
}

TEST_F(ApiServerTest, EngineRefusals) {
  start();
  service_.refuse = AdmissionError(429, "1024 requests are already waiting", 2);
  auto r = post("/v1/completions", R"({"prompt": "x"})");
  expect_error(r, 429, "", "overloaded");
  EXPECT_EQ(r[http::Field::retry_after], "2");
  service_.refuse = AdmissionError(400, "the prompt has 9999 tokens; this server accepts at most 256");
  r = post("/v1/completions", R"({"prompt": "x"})");
  expect_error(r, 400);
  EXPECT_NE(r.body().find("9999 tokens"), std::string::npos);
}

TEST_F(ApiServerTest, EngineErrorIs500) {
  service_.script = [](const GenerationRequest&, RequestStream& s) {
    auto e = event("", 0, FinishReason::Error);
    e.error = "internal error in the forward pass";
    s.push(std::move(e));
  };
  start();
  auto r = post("/v1/completions", R"({"prompt": "x"})");
  expect_error(r, 500);
  EXPECT_NE(r.body().find("forward pass"), std::string::npos);
}

TEST_F(ApiServerTest, RequestIds) {
  start();
  auto r = post("/v1/completions", R"({"prompt": "x"})", {{"X-Request-Id", "client-42"}});
  EXPECT_EQ(r["X-Request-Id"], "client-42");
  EXPECT_EQ(Json::parse(r.body())["id"], "cmpl-client-42");
  EXPECT_EQ(service_.submitted[0].id, "client-42-0");
  r = post("/v1/completions", R"({"prompt": "x"})", {{"X-Request-Id", "bad id with spaces"}});
  EXPECT_NE(r["X-Request-Id"], "bad id with spaces");
  EXPECT_EQ(r["X-Request-Id"].size(), 32u);
  EXPECT_FALSE(client().get("/health")["X-Request-Id"].empty());
}

TEST_F(ApiServerTest, ModelsHealthReadyMetrics) {
  start();
  auto c = client();
  const Json models = Json::parse(c.get("/v1/models").body());
  EXPECT_EQ(models["object"], "list");
  EXPECT_EQ(models["data"][0]["id"], "tiny");
  EXPECT_EQ(models["data"][0]["object"], "model");
  EXPECT_EQ(models["data"][0]["max_model_len"], 256);

  EXPECT_EQ(c.get("/health").result(), http::Status::ok);
  service_.progress = Clock::now() - 60s;  // a wedged engine loop
  EXPECT_EQ(c.get("/health").result(), http::Status::service_unavailable);
  service_.progress = Clock::now();

  EXPECT_EQ(c.get("/ready").result(), http::Status::ok);
  auto metrics = c.get("/metrics");
  EXPECT_EQ(metrics[http::Field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body().find("tide_http_requests_total{route=\"/ready\",status=\"200\"} 1"), std::string::npos)
      << metrics.body();
}

TEST_F(ApiServerTest, DrainingRefusesNewWorkAndFinishesTheRest) {
  service_.script = [](const GenerationRequest&, RequestStream& s) { s.push(event("a", 1)); };
  start();
  std::vector<std::string> events;
  auto streamed = std::async(std::launch::async, [&] {
    return client().post_sse("/v1/completions", R"({"prompt": "x", "stream": true})", [&](const std::string& d) {
      events.push_back(d);
      return true;
    });
  });
  while (server_->in_flight() == 0) std::this_thread::sleep_for(5ms);

  server_->begin_drain();
  EXPECT_EQ(client().get("/ready").result(), http::Status::service_unavailable);
  EXPECT_EQ(client().get("/health").result(), http::Status::ok);
  expect_error(post("/v1/completions", R"({"prompt": "x"})"), 503);

  // The stream never finishes on its own: the drain timeout cancels it.
  EXPECT_EQ(server_->drain(100ms, 5s), 1);
  EXPECT_EQ(server_->in_flight(), 0);
  EXPECT_EQ(streamed.get().result(), http::Status::ok);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(Json::parse(events[events.size() - 2])["choices"][0]["finish_reason"], "abort");
}

TEST_F(ApiServerTest, ClientGoneCancelsTheRequest) {
  service_.script = [](const GenerationRequest&, RequestStream& s) { s.push(event("first", 1)); };
  start();
  int seen = 0;
  client().post_sse("/v1/completions", R"({"prompt": "x", "stream": true})", [&](const std::string&) {
    ++seen;
    return false;  // hang up after the first event
  });
  EXPECT_EQ(seen, 1);
  const auto deadline = Clock::now() + 5s;
  while (!service_.streams()[0]->cancelled() && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(service_.streams()[0]->cancelled());
  while (server_->in_flight() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(server_->in_flight(), 0);
}

TEST_F(ApiServerTest, NonStreamingClientGoneCancelsToo) {
  service_.script = [](const GenerationRequest&, RequestStream&) {};  // never finishes
  start();
  http::Client c("127.0.0.1", server_->port(), 200ms);
  EXPECT_THROW(c.post_json("/v1/completions", R"({"prompt": "x"})"), Error);  // the client times out and closes
  const auto deadline = Clock::now() + 5s;
  while ((service_.streams().empty() || !service_.streams()[0]->cancelled()) && Clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  ASSERT_FALSE(service_.streams().empty());
  EXPECT_TRUE(service_.streams()[0]->cancelled());
}

}  // namespace
}  // namespace tide::server
