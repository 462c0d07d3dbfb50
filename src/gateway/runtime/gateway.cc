#include "gateway/runtime/gateway.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <random>

#include "common/error.h"
#include "gateway/proxy/response_text.h"
#include "gateway/redis_limiter_backend.h"
#include "gateway/runtime/gateway_state.h"
#include "server/api_error.h"

namespace tide::gateway {
namespace bhttp = boost::beast::http;

namespace {

using http::view;

double uniform_draw() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(random);
}

server::ApiError too_many(const std::string& message, double retry_after_s) {
  server::ApiError error(429, message, {}, "rate_limit_exceeded");
  error.retry_after_s = std::max(1, static_cast<int>(std::ceil(retry_after_s)));
  return error;
}

// Tokens a finished request really used: its reported usage, else (a stream without a usage
// chunk) one token a relayed event plus the prompt estimate.
double used_tokens(const ForwardResult& r, const RequestTraits& traits) {
  if (!r.body.empty() && !r.streamed)
    try {
      auto json = nlohmann::json::parse(r.body);
      if (auto usage = json.find("usage"); usage != json.end() && usage->is_object())
        if (auto total = usage->find("total_tokens"); total != usage->end() && total->is_number())
          return total->get<double>();
    } catch (const std::exception&) {
    }
  return estimate_tokens(traits.prefix_text.size(), 0) + static_cast<double>(r.events);
}

}  // namespace

struct Gateway::Metrics {
  Family<Counter>& limited;
  Family<Counter>& unauthorized;
  Family<Counter>& routed;
  Family<Counter>& cache;
  Family<Counter>& mirror;
  Family<Counter>& mirror_diffs;
  Family<Histogram>& mirror_latency_delta;
  Counter& reloads;
  Counter& reload_errors;
  Family<Gauge>& queued;
  Family<Counter>& queue_outcomes;

  explicit Metrics(MetricsRegistry& m)
      : limited(m.counter("tide_gateway_limiter_decisions_total",
                          "Rate-limit decisions: allowed, or limited by the rule at index `rule`", {"decision", "rule"})),
        unauthorized(m.counter("tide_gateway_unauthorized_total", "Requests refused for a missing or unknown API key")),
        routed(m.counter("tide_gateway_routed_total",
                         "Requests by route, pool and how the pool was chosen (primary, backup, fallback, all_down)",
                         {"route", "pool", "reason"})),
        cache(m.counter("tide_gateway_response_cache_total", "Response cache lookups and stores, by result",
                        {"result"})),
        mirror(m.counter("tide_gateway_mirror_requests_total", "Mirrored copies, by pool and the shadow's status",
                         {"pool", "code"})),
        mirror_diffs(m.counter("tide_gateway_mirror_output_diffs_total",
                               "Mirrored copies whose generated text differed from the primary's", {"pool"})),
        mirror_latency_delta(m.histogram("tide_gateway_mirror_latency_delta_seconds",
                                         "Shadow duration minus primary duration (negative: the shadow was faster)",
                                         {-5, -1, -0.25, -0.05, -0.01, 0, 0.01, 0.05, 0.25, 1, 5}, {"pool"})),
        reloads(m.counter("tide_gateway_config_reloads_total", "Configuration reloads applied").get()),
        reload_errors(m.counter("tide_gateway_config_reload_errors_total",
                                "Configuration reloads refused (the running configuration stays)")
                          .get()),
        queued(m.gauge("tide_gateway_queue_size", "Requests held waiting for a replica of the pool", {"pool"})),
        queue_outcomes(m.counter("tide_gateway_queue_outcomes_total",
                                 "Held requests by outcome: admitted (a replica came up), timeout (503), full (429)",
                                 {"pool", "outcome"})) {}
};

Gateway::Gateway(GatewayConfig config, MetricsRegistry& metrics, bool access_log, int threads)
    : metrics_(metrics), m_(std::make_unique<Metrics>(metrics)) {
  GatewayServerOptions options;
  options.http.host = config.listen.host;
  options.http.port = config.listen.port;
  options.http.threads = threads > 0 ? threads : static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  options.http.max_connections = 16384;
  options.http.read_timeout = config.listen.read_timeout;
  options.http.idle_timeout = config.listen.keep_alive_timeout;
  options.access_log = access_log;
  state_ = build(std::move(config));
  server_ = std::make_unique<GatewayServer>(std::move(options), *this, metrics_);
}

Gateway::~Gateway() { shutdown(std::chrono::milliseconds(0)); }

std::shared_ptr<GatewayState> Gateway::build(GatewayConfig config) {
  auto state = std::make_shared<GatewayState>(std::move(config));
  const auto& c = state->config;
  for (const auto& pool_config : c.pools) {
    auto pool = std::make_shared<Pool>(pool_config, metrics_);
    state->pools.emplace(pool_config.name, pool);
    state->watchers.push_back(std::make_unique<PoolWatcher>(pool));
    state->queues.emplace(pool_config.name, std::make_shared<AdmissionQueue>(c.admission));
  }
  if (c.auth.enabled()) state->keys = ApiKeys::from_config(c.auth);
  if (!c.limits.empty()) {
    std::shared_ptr<LimiterBackend> backend;
    if (c.redis.address.empty()) {
      backend = std::make_shared<LocalLimiterBackend>();
    } else {
      auto redis = std::make_shared<RedisLimiterBackend>(c.redis);
      // Counted from the backend itself, so every reload's backend adds to the same series.
      auto& errors = metrics_.counter("tide_gateway_limiter_backend_errors_total",
                                      "Calls to the shared limiter backend (Redis) that failed; each was decided "
                                      "by redis.fail_open")
                         .get();
      state->limiter_errors = [redis, &errors, last = std::make_shared<std::atomic<uint64_t>>(0)] {
        const uint64_t now = redis->errors();
        const uint64_t before = last->exchange(now);
        if (now > before) errors.inc(static_cast<double>(now - before));
      };
      backend = redis;
    }
    state->limiter = std::make_unique<RateLimiter>(c.limits, backend, c.redis.fail_open);
  }
  if (c.response_cache.enabled) state->cache = std::make_unique<ResponseCache>(c.response_cache);
  // Discovered and checked before any request sees it.
  for (auto& watcher : state->watchers) watcher->start();
  return state;
}

std::shared_ptr<GatewayState> Gateway::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

void Gateway::start() {
  server_->start();
  ticker_ = std::thread([this] {
    std::unique_lock lock(ticker_mutex_);
    while (!ticker_wake_.wait_for(lock, std::chrono::milliseconds(50), [this] { return ticker_stop_; })) {
      lock.unlock();
      tick_queues();
      lock.lock();
    }
  });
  spdlog::info("gateway listening on {}:{} with {} pool(s)", state()->config.listen.host, server_->port(),
               state()->pools.size());
}

void Gateway::reload_refused() { m_->reload_errors.inc(); }

void Gateway::reload(GatewayConfig config) {
  // A configuration that cannot be built throws here and the running one stays; the caller
  // counts it (reload_refused) with the parse errors.
  std::shared_ptr<GatewayState> next = build(std::move(config));
  std::shared_ptr<GatewayState> previous;
  {
    std::lock_guard lock(mutex_);
    previous = std::move(state_);
    state_ = std::move(next);
  }
  m_->reloads.inc();
  // The old pools serve their requests in flight to the end, but are no longer watched.
  for (auto& watcher : previous->watchers) watcher->stop();
  // Requests held by the old configuration are planned again under the new one.
  for (auto& [name, queue] : previous->queues) queue->release(queue->size());
  spdlog::info("gateway configuration reloaded: {} pool(s), {} route(s)", state()->pools.size(),
               state()->config.routes.size());
  // `previous` goes when its last request ends (each holds its pool); its watchers stop now.
}

void Gateway::shutdown(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(ticker_mutex_);
    ticker_stop_ = true;
  }
  ticker_wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  if (auto state = this->state())
    for (auto& [name, queue] : state->queues) queue->drain();  // answered 503 before the server stops
  if (server_) server_->shutdown(grace);
  std::lock_guard lock(mutex_);
  state_.reset();
}

void Gateway::tick_queues() {
  const auto state = this->state();
  if (!state) return;
  const auto now = Clock::now();
  for (auto& [name, queue] : state->queues) {
    queue->expire(now);
    if (queue->size() > 0 && state->pools.at(name)->health().healthy > 0) queue->release(queue->size());
    m_->queued.labels({name}).set(static_cast<double>(queue->size()));
  }
}

ForwardPlan Gateway::plan(const http::Request& request, RequestTraits& traits) {
  const auto state = this->state();
  if (!state) throw server::ApiError(503, "the gateway is shutting down");

  // 1. Who is calling.
  std::optional<KeyInfo> key;
  if (state->keys) {
    key = state->keys->authenticate(bearer_token(view(request[bhttp::field::authorization])));
    if (!key) {
      m_->unauthorized.get().inc();
      throw server::ApiError(401, "a valid API key is required: send it as 'Authorization: Bearer <key>'", {},
                             "invalid_api_key");
    }
    traits.api_key_id = key->fingerprint;
  }
  std::string user = key && !key->user.empty() ? key->user : std::string(view(request["x-user-id"]));
  if (user.empty()) user = traits.user;

  // 2. Limits, debited up front with an estimate and settled when the request ends.
  std::shared_ptr<Admission> admission;
  if (state->limiter) {
    const RequestIdentity who{.api_key_id = traits.api_key_id, .user = user, .model = traits.model};
    const double estimate = estimate_tokens(traits.prefix_text.size(), static_cast<uint64_t>(std::max<int64_t>(0, traits.max_tokens)));
    admission = std::make_shared<Admission>(state->limiter->admit(who, estimate, Clock::now(), key ? &key->limits : nullptr));
    if (!admission->decision.allowed) {
      m_->limited.labels({"limited", std::to_string(admission->decision.rule)}).inc();
      throw too_many("rate limit exceeded for this caller; retry after the time in Retry-After",
                     admission->decision.retry_after_s);
    }
    m_->limited.labels({"allowed", ""}).inc();
  }
  if (state->limiter_errors) state->limiter_errors();

  // 3. Route and pool.
  // Lower-cased headers, only when some route matches on them (not on the common path).
  std::vector<std::pair<std::string, std::string>> header_storage;
  const bool routes_on_headers = std::any_of(state->config.routes.begin(), state->config.routes.end(),
                                             [](const RouteConfig& r) { return !r.headers.empty(); });
  if (routes_on_headers)
    for (const auto& field : request) {
      std::string name(view(field.name_string()));
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      if (name == "authorization") continue;
      header_storage.emplace_back(std::move(name), std::string(view(field.value())));
    }
  std::vector<std::pair<std::string_view, std::string_view>> headers(header_storage.begin(), header_storage.end());
  const auto health = [&pools = state->pools](std::string_view pool) {
    const auto it = pools.find(pool);
    return it == pools.end() ? PoolHealth{} : it->second->health();
  };
  const RouteDecision decision =
      state->router.route({.model = traits.model, .headers = headers, .split_draw = uniform_draw(), .mirror_draw = uniform_draw()},
                          PoolHealthOf(health));
  if (decision.reason == RouteReason::NoRoute)
    throw server::ApiError(404, fmt::format("no route serves model '{}'", traits.model), "model", "model_not_found");
  m_->routed.labels({decision.route, decision.pool, std::string(to_string(decision.reason))}).inc();

  std::optional<std::string> cache_key;
  if (state->cache && !traits.stream) {
    try {
      cache_key = ResponseCache::key_for(nlohmann::json::parse(request.body()), traits.api_key_id);
    } catch (const std::exception&) {
    }
  }
  auto cached_answer = [state, cache_key, m = m_.get()]() -> std::optional<http::Response> {
    if (!cache_key) return std::nullopt;
    auto hit = state->cache->get(*cache_key, Clock::now());
    m->cache.labels({hit ? "hit" : "miss"}).inc();
    if (!hit) return std::nullopt;
    http::Response response{static_cast<http::Status>(hit->status), 11};
    response.set(bhttp::field::content_type, hit->content_type);
    response.set("x-tide-cache", "hit");
    response.body() = hit->body;
    return response;
  };

  ForwardPlan plan;
  if (decision.reason == RouteReason::AllDown) {
    if (auto answer = cached_answer()) {
      plan.immediate = std::move(answer);
      return plan;
    }
    // Held until a replica of the pool is up (the first one starting, with scale to zero), or
    // until the queue's timeout.
    auto queue = state->queues.at(decision.split_pool);
    const std::size_t priority = queue->priority_of(view(request[state->config.admission.priority_header]));
    plan.hold = [queue, priority, pool = decision.split_pool, m = m_.get()](std::function<void(bool)> resume) {
      const bool queued = queue->enqueue(priority, queue->deadline(priority, Clock::now()),
                                         [resume = std::move(resume), pool, m](bool admitted) {
                                           m->queue_outcomes.labels({pool, admitted ? "admitted" : "timeout"}).inc();
                                           resume(admitted);
                                         });
      if (!queued) m->queue_outcomes.labels({pool, "full"}).inc();
      return queued;
    };
    return plan;
  }
  // Session affinity keys on the pool's header, else on the caller's user.
  if (const PoolConfig* p = state->config.find_pool(decision.pool); p && p->balancer.kind == BalancerKind::SessionAffinity) {
    traits.session_key = std::string(view(request[p->balancer.session.header]));
    if (traits.session_key.empty()) traits.session_key = user;
  }

  // The routed pool, then its backup chain: a request still finds a replica when its pool
  // dies before the health checks have noticed.
  std::vector<std::shared_ptr<Pool>> chain;
  for (const PoolConfig* p = state->config.find_pool(decision.pool); p && chain.size() < state->pools.size();
       p = p->backup.empty() ? nullptr : state->config.find_pool(p->backup))
    if (std::none_of(chain.begin(), chain.end(), [&](const auto& c) { return c->name() == p->name; }))
      chain.push_back(state->pools.at(p->name));
  plan.selector = select_from(std::move(chain));
  if (const PoolConfig* p = state->config.find_pool(decision.pool))
    plan.timeouts = ProxyTimeouts{.connect = p->timeouts.connect, .first_byte = p->timeouts.first_token, .idle = p->timeouts.idle};
  if (decision.mirror) plan.mirror = select_from({state->pools.at(*decision.mirror)});
  // Both only where there is something to do: a request without limits or a cache needs no
  // callback (and no copy of its traits) carried to its end.
  if (!cache_key && !admission) return plan;
  if (cache_key) plan.degrade = cached_answer;
  plan.on_done = [state, admission, cache_key, traits, m = m_.get()](const ForwardResult& r) {
    if (admission && state->limiter) state->limiter->correct(*admission, used_tokens(r, traits), Clock::now());
    if (cache_key && r.status == 200 && !r.streamed && !r.degraded && !r.body.empty()) {
      state->cache->put(*cache_key, {.status = 200, .content_type = "application/json", .body = r.body}, Clock::now());
      m->cache.labels({"store"}).inc();
    }
  };
  return plan;
}

void Gateway::mirrored(const ForwardResult& primary, const ForwardResult& shadow) {
  const std::string pool = shadow.pool.empty() ? "-" : shadow.pool;
  m_->mirror.labels({pool, std::to_string(shadow.status)}).inc();
  m_->mirror_latency_delta.labels({pool}).observe((shadow.duration - primary.duration).count());
  if (primary.status == 200 && shadow.status == 200 && generated_text(primary.body) != generated_text(shadow.body))
    m_->mirror_diffs.labels({pool}).inc();
}

}  // namespace tide::gateway
