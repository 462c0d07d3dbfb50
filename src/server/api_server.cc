#include "server/api_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <random>
#include <thread>

#include "common/error.h"
#include "server/generation_job.h"
#include "server/json_body.h"
#include "server/json_response.h"
#include "server/openai_response.h"
#include "server/reasoning_parser.h"

namespace tide::server {
namespace net = boost::asio;

struct ApiServer::Call {
  std::shared_ptr<http::Exchange> exchange;
  std::string request_id;
  std::string route;  // the matched route, or "unmatched": a bounded set of metric labels
  Clock::time_point started = Clock::now();
};

struct ApiServer::Metrics {
  explicit Metrics(MetricsRegistry& r)
      : requests(r.counter("tide_http_requests_total", "HTTP requests answered, by route and status",
                           {"route", "status"})),
        duration(r.histogram("tide_http_request_duration_seconds",
                             "Time from a request's arrival to the end of its answer, by route",
                             {0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}, {"route"})) {}
  Family<Counter>& requests;
  Family<Histogram>& duration;
};

namespace {

// A client's own id is kept when it is a sane token, so its logs and ours line up.
bool usable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':')) return false;
  return true;
}

std::string new_request_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", random(), random());
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

ApiError from_admission(const AdmissionError& e) {
  ApiError error(e.status, e.what(), "", e.status == 429 ? "overloaded" : "");
  error.retry_after_s = e.retry_after_s;
  return error;
}

ApiError shutting_down() {
  ApiError error(503, "the server is shutting down; retry on another instance");
  error.retry_after_s = 1;
  return error;
}

}  // namespace

ReasoningMode parse_reasoning_mode(const std::string& name) {
  if (name == "auto") return ReasoningMode::Auto;
  if (name == "deepseek-r1") return ReasoningMode::DeepSeekR1;
  if (name == "none") return ReasoningMode::None;
  fail("--reasoning-parser {}: expected auto, deepseek-r1 or none", name);
}

ApiServer::ApiServer(ServerConfig config, GenerationService& service, const PromptBuilder& prompts, ModelInfo model,
                     MetricsRegistry& metrics)
    : config_(std::move(config)),
      service_(service),
      prompts_(prompts),
      model_(model),
      registry_(metrics),
      metrics_(std::make_unique<Metrics>(metrics)),
      created_(unix_now()),
      prep_(static_cast<std::size_t>(std::max(1, config_.http.threads))) {
  switch (config_.reasoning) {
    case ReasoningMode::Auto: reasoning_enabled_ = prompts_.tokenizer().token_id("</think>").has_value(); break;
    case ReasoningMode::DeepSeekR1: reasoning_enabled_ = true; break;
    case ReasoningMode::None: reasoning_enabled_ = false; break;
  }
  if (!config_.http.error_response)
    config_.http.error_response = [](http::Status status, const std::string& message) {
      return error_response(ApiError(static_cast<int>(status), message));
    };
  http_ = std::make_unique<http::Server>(config_.http, [this](std::shared_ptr<http::Exchange> e) { handle(std::move(e)); });
}

ApiServer::~ApiServer() { stop(std::chrono::milliseconds(0)); }

void ApiServer::start() { http_->start(); }

void ApiServer::begin_drain() { draining_ = true; }

int ApiServer::drain(std::chrono::milliseconds timeout, std::chrono::milliseconds cancel_grace) {
  auto wait_for_idle = [this](std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (in_flight_.count() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  wait_for_idle(timeout);
  const int left = in_flight_.count();
  if (left > 0) {
    in_flight_.cancel_all();
    wait_for_idle(cancel_grace);
  }
  return left;
}

void ApiServer::stop(std::chrono::milliseconds grace) {
  http_->shutdown(grace);
  prep_.join();
}

void ApiServer::handle(std::shared_ptr<http::Exchange> exchange) {
  auto call = std::make_shared<Call>();
  call->exchange = std::move(exchange);
  const auto incoming = call->exchange->request()["X-Request-Id"];
  call->request_id = usable_request_id({incoming.data(), incoming.size()}) ? std::string(incoming) : new_request_id();
  try {
    route(call);
  } catch (const ApiError& e) {
    answer_error(call, e);
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", call->request_id, e.what());
    answer_error(call, ApiError(500, "internal error"));
  }
}

void ApiServer::route(const std::shared_ptr<Call>& call) {
  const auto& request = call->exchange->request();
  const auto target = request.target();
  const std::string path(target.substr(0, target.find('?')));

  struct Route {
    const char* path;
    http::Verb verb;
  };
  static const Route kRoutes[] = {{"/v1/completions", http::Verb::post}, {"/v1/chat/completions", http::Verb::post},
                                  {"/v1/models", http::Verb::get},       {"/health", http::Verb::get},
                                  {"/ready", http::Verb::get},           {"/metrics", http::Verb::get}};
  const Route* matched = nullptr;
  for (const auto& r : kRoutes)
    if (path == r.path) matched = &r;
  call->route = matched ? matched->path : "unmatched";
  if (!matched) throw ApiError(404, fmt::format("no route for {}; see /v1/models, /v1/completions, /v1/chat/completions", path), "", "not_found");
  if (request.method() != matched->verb) {
    const std::string allowed(boost::beast::http::to_string(matched->verb));
    auto response = error_response(ApiError(405, fmt::format("{} accepts only {}", path, allowed), "", "method_not_allowed"));
    response.set(http::Field::allow, allowed);
    return answer(call, std::move(response));
  }

  if (path == "/v1/completions") return handle_generation(call, Endpoint::Completions);
  if (path == "/v1/chat/completions") return handle_generation(call, Endpoint::ChatCompletions);
  if (path == "/v1/models") return answer(call, models());
  if (path == "/health") return answer(call, health());
  if (path == "/ready") return answer(call, ready());
  http::Response metrics{http::Status::ok, 11};
  metrics.set(http::Field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  metrics.body() = registry_.render();
  answer(call, std::move(metrics));
}

void ApiServer::handle_generation(const std::shared_ptr<Call>& call, Endpoint endpoint) {
  if (draining_) throw shutting_down();
  net::post(prep_, [this, call, endpoint] {
    try {
      const auto body = parse_json_body(call->exchange->request().body(), config_.max_json_depth);
      OpenAiRequest request = parse_openai_request(endpoint, body, config_.limits);
      if (!request.model.empty() && request.model != config_.served_model_name)
        throw ApiError(404, fmt::format("the model '{}' does not exist; this server serves '{}'", request.model,
                                        config_.served_model_name),
                       "model", "model_not_found");
      BuiltPrompts prompts = prompts_.build(request);
      // Back on the connection's io thread: the job lives there.
      net::post(call->exchange->executor(),
                [this, call, request = std::move(request), prompts = std::move(prompts)]() mutable {
                  try {
                    submit_generation(call, std::move(request), std::move(prompts));
                  } catch (const ApiError& e) {
                    answer_error(call, e);
                  } catch (const AdmissionError& e) {
                    answer_error(call, from_admission(e));
                  } catch (const std::exception& e) {
                    spdlog::error("{}: submitting failed: {}", call->request_id, e.what());
                    answer_error(call, ApiError(500, "internal error"));
                  }
                });
    } catch (const ApiError& e) {
      answer_error(call, e);
    } catch (const std::exception& e) {
      spdlog::error("{}: preparing the prompt failed: {}", call->request_id, e.what());
      answer_error(call, ApiError(500, "internal error while preparing the prompt"));
    }
  });
}

void ApiServer::submit_generation(const std::shared_ptr<Call>& call, OpenAiRequest request, BuiltPrompts prompts) {
  if (draining_) throw shutting_down();
  const bool chat = request.endpoint == Endpoint::ChatCompletions;
  auto generation = make_generation_requests(request, prompts.ids, call->request_id,
                                             {model_.context_length, config_.max_tokens_cap});
  JobSetup setup;
  setup.endpoint = request.endpoint;
  setup.meta = {(chat ? "chatcmpl-" : "cmpl-") + call->request_id, unix_now(), config_.served_model_name};
  setup.request_id = call->request_id;
  setup.stream = request.stream;
  setup.include_usage = request.include_usage;
  setup.want_logprobs = request.top_logprobs >= 0;
  setup.n = request.n;
  if (chat && reasoning_enabled_) setup.reasoning = prompt_starts_reasoning(prompts.rendered_chat);
  setup.on_complete = [this, call](int status, const Usage& usage) {
    finished(*call, status,
             fmt::format("prompt_tokens={} cached_tokens={} completion_tokens={}", usage.prompt_tokens,
                         usage.cached_tokens, usage.completion_tokens));
  };
  auto job = std::make_shared<GenerationJob>(call->exchange, std::move(setup), prompts_.tokenizer(), in_flight_);
  job->start(service_, std::move(generation));
}

void ApiServer::answer(const std::shared_ptr<Call>& call, http::Response response) {
  const int status = static_cast<int>(response.result_int());
  response.set("X-Request-Id", call->request_id);
  call->exchange->respond(std::move(response));
  finished(*call, status, "");
}

void ApiServer::answer_error(const std::shared_ptr<Call>& call, const ApiError& error) {
  http::Response response = error_response(error);
  response.set("X-Request-Id", call->request_id);
  call->exchange->respond(std::move(response));
  finished(*call, error.status, error.what());
}

void ApiServer::finished(const Call& call, int status, const std::string& detail) {
  const double seconds = std::chrono::duration<double>(Clock::now() - call.started).count();
  metrics_->requests.labels({call.route, std::to_string(status)}).inc();
  metrics_->duration.labels({call.route}).observe(seconds);
  // Probes and scrapes arrive every few seconds; only their failures are worth an info line.
  const bool routine = status == 200 && !call.route.starts_with("/v1/");
  const auto& request = call.exchange->request();
  spdlog::log(routine ? spdlog::level::debug : spdlog::level::info, "{} {} {} {} {:.1f} ms {}", call.request_id,
              std::string(request.method_string()), std::string(request.target()), status, seconds * 1e3, detail);
}

http::Response ApiServer::health() const {
  const double idle = std::chrono::duration<double>(Clock::now() - service_.last_progress()).count();
  if (idle > static_cast<double>(config_.health_stall_after.count())) {
    nlohmann::json body = {{"status", "unhealthy"},
                           {"reason", fmt::format("the engine loop has made no progress for {:.0f} s", idle)}};
    return json_response(http::Status::service_unavailable, body.dump());
  }
  return json_response(http::Status::ok, R"({"status":"ok"})");
}

http::Response ApiServer::ready() const {
  if (draining_) return json_response(http::Status::service_unavailable, R"({"status":"draining"})");
  return json_response(http::Status::ok, R"({"status":"ready"})");
}

http::Response ApiServer::models() const {
  nlohmann::ordered_json model = {{"id", config_.served_model_name},
                                  {"object", "model"},
                                  {"created", created_},
                                  {"owned_by", "tide"},
                                  {"max_model_len", model_.context_length}};
  nlohmann::ordered_json body = {{"object", "list"}, {"data", {model}}};
  return json_response(http::Status::ok, dump_json(body));
}

}  // namespace tide::server
