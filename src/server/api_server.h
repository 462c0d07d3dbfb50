#pragma once
// The OpenAI-compatible API server: routes HTTP requests to the engine and back.
//
//   POST /v1/completions, POST /v1/chat/completions   generation (JSON or SSE stream)
//   GET  /v1/models                                   the served model
//   GET  /health    200 while the engine loop makes progress, else 503
//   GET  /ready     200 while serving, 503 once draining
//   GET  /metrics   Prometheus text format
//
// Draining (on SIGTERM): /ready turns 503 and new generation requests are refused with 503,
// while those in flight run to completion; after the drain timeout the rest are cancelled.
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/thread_pool.hpp>

#include "common/http/server.h"
#include "common/metrics.h"
#include "server/api_error.h"
#include "server/generation_service.h"
#include "server/in_flight.h"
#include "server/openai_request.h"
#include "server/prompt_builder.h"

namespace tide::server {

enum class ReasoningMode { Auto, DeepSeekR1, None };

// "auto", "deepseek-r1" or "none"; throws tide::Error otherwise.
ReasoningMode parse_reasoning_mode(const std::string& name);

struct ServerConfig {
  std::string served_model_name = "demo";
  http::ServerOptions http;
  // Auto: split reasoning when the tokenizer has a "</think>" token (R1 and its distills).
  ReasoningMode reasoning = ReasoningMode::Auto;
  RequestLimits limits;
  int max_tokens_cap = 0;  // bounds the default max_tokens of chat requests; 0: the context
  int max_json_depth = 64;
  // /health fails when the engine loop has not made progress for this long.
  std::chrono::seconds health_stall_after{10};
};

struct ModelInfo {
  int context_length = 0;
};

class ApiServer {
 public:
  // `service`, `prompts` (and the tokenizer it refers to) and `metrics` must outlive the server.
  ApiServer(ServerConfig config, GenerationService& service, const PromptBuilder& prompts, ModelInfo model,
            MetricsRegistry& metrics);
  ~ApiServer();

  // Binds and starts serving; throws tide::Error when the address cannot be bound.
  void start();
  uint16_t port() const { return http_->port(); }
  bool reasoning_enabled() const { return reasoning_enabled_; }

  // Starts draining: /ready answers 503 and new generation requests are refused.
  void begin_drain();
  // Waits up to `timeout` for the generation requests in flight to finish, then cancels what is
  // left and waits (up to `cancel_grace`) for those to wind down. Returns how many were cancelled.
  int drain(std::chrono::milliseconds timeout, std::chrono::milliseconds cancel_grace);
  // Stops the HTTP server (see http::Server::shutdown) and the preparation threads.
  void stop(std::chrono::milliseconds grace);
  int in_flight() const { return in_flight_.count(); }

 private:
  struct Call;  // one HTTP request being handled
  struct Metrics;

  void handle(std::shared_ptr<http::Exchange> exchange);
  void route(const std::shared_ptr<Call>& call);
  void handle_generation(const std::shared_ptr<Call>& call, Endpoint endpoint);
  void submit_generation(const std::shared_ptr<Call>& call, OpenAiRequest request, BuiltPrompts prompts);
  void answer(const std::shared_ptr<Call>& call, http::Response response);
  void answer_error(const std::shared_ptr<Call>& call, const ApiError& error);
  void finished(const Call& call, int status, const std::string& detail);
  http::Response health() const;
  http::Response ready() const;
  http::Response models() const;

  ServerConfig config_;
  GenerationService& service_;
  const PromptBuilder& prompts_;
  ModelInfo model_;
  MetricsRegistry& registry_;
  std::unique_ptr<Metrics> metrics_;
  bool reasoning_enabled_ = false;
  int64_t created_ = 0;  // Unix time the server started, for /v1/models
  std::atomic<bool> draining_{false};
  InFlight in_flight_;
  // JSON parsing, chat templates and tokenization run here, not on the io threads, so a huge
  // prompt never holds up other connections' reads and writes.
  boost::asio::thread_pool prep_;
  std::unique_ptr<http::Server> http_;
};

}  // namespace tide::server
