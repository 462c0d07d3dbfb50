// Outlier windows, ejections and the retry budget are seconds long, so the pool reads the coarse
// clock (common/coarse_clock.h) for them; latencies come measured from the forwarder.
#include "gateway/runtime/pool.h"

#include <algorithm>
#include <random>

#include "common/coarse_clock.h"
#include "common/metrics.h"

namespace tide::gateway {
namespace {

const std::vector<double> kSecondsBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                            1,     2.5,    5,     10,   20,    40,   80,  160};

constexpr double kEwmaWeight = 0.2;  // of the newest sample: a replica's slowdown shows within ~5 requests

uint64_t random_draw() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return random();
}

std::string_view outcome_label(AttemptOutcome::Kind kind) {
  switch (kind) {
    case AttemptOutcome::Kind::Success: return "success";
    case AttemptOutcome::Kind::Overloaded: return "overloaded";
    case AttemptOutcome::Kind::ServerError: return "server_error";
    case AttemptOutcome::Kind::ConnectError: return "connect_error";
    case AttemptOutcome::Kind::Timeout: return "timeout";
  }
  return "unknown";
}

}  // namespace

struct PoolMetrics {
  Family<Counter>& attempts;
  Family<Counter>& retries;
  Family<Histogram>& latency;
  Family<Histogram>& first_byte;
  Family<Gauge>& endpoints;
  Family<Gauge>& in_flight;

  explicit PoolMetrics(MetricsRegistry& m)
      : attempts(m.counter("tide_gateway_upstream_attempts_total",
                           "Attempts at a replica, by pool, replica and outcome (success, overloaded, server_error, "
                           "connect_error, timeout)",
                           {"pool", "endpoint", "outcome"})),
        retries(m.counter("tide_gateway_retries_total", "Retries made (to another replica), by pool", {"pool"})),
        latency(m.histogram("tide_gateway_upstream_duration_seconds", "An attempt's duration, to its answer's end",
                            kSecondsBounds, {"pool", "endpoint"})),
        first_byte(m.histogram("tide_gateway_upstream_first_byte_seconds",
                               "Time from sending a request to a replica to its answer's first byte (for streams: "
                               "about the time to first token)",
                               kSecondsBounds, {"pool", "endpoint"})),
        endpoints(m.gauge("tide_gateway_pool_endpoints",
                          "Endpoints of a pool by state: total (discovered), healthy (ready, not ejected)",
                          {"pool", "state"})),
        in_flight(m.gauge("tide_gateway_upstream_in_flight", "Requests this gateway has at each replica now",
                          {"pool", "endpoint"})) {}
};

Pool::Pool(PoolConfig config, MetricsRegistry& metrics)
    : config_(std::move(config)),
      balancer_(make_balancer(config_.balancer)),
      outliers_(config_.outlier),
      retries_(config_.retry),
      metrics_(std::make_unique<PoolMetrics>(metrics)) {}

Pool::~Pool() = default;

void Pool::set_endpoints(const std::vector<HostPort>& addresses) {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<Member>> next;
    for (const auto& address : addresses) {
      const std::string id = to_string(address);
      if (std::any_of(next.begin(), next.end(), [&](const auto& m) { return m->id == id; })) continue;
      auto existing = std::find_if(members_.begin(), members_.end(), [&](const auto& m) { return m->id == id; });
      if (existing != members_.end()) {
        next.push_back(*existing);
      } else {
        auto member = std::make_shared<Member>();
        member->address = address;
        member->id = id;
        member->metrics = metrics_for(id);
        next.push_back(std::move(member));
      }
      ids.push_back(id);
    }
    members_ = std::move(next);
  }
  outliers_.set_endpoints(ids);
}

std::vector<Endpoint> Pool::endpoints() const {
  std::lock_guard lock(mutex_);
  std::vector<Endpoint> out;
  for (const auto& m : members_) out.push_back({config_.name, m->address.host, m->address.port, m->id});
  return out;
}

Pool::MemberMetrics Pool::metrics_for(const std::string& id) const {
  MemberMetrics m{.in_flight = &metrics_->in_flight.labels({config_.name, id}),
                  .latency = &metrics_->latency.labels({config_.name, id}),
                  .first_byte = &metrics_->first_byte.labels({config_.name, id}),
                  .attempts = {}};
  for (std::size_t kind = 0; kind < m.attempts.size(); ++kind)
    m.attempts[kind] = &metrics_->attempts.labels({config_.name, id, outcome_label(static_cast<AttemptOutcome::Kind>(kind))});
  return m;
}

std::shared_ptr<Pool::Member> Pool::find(const std::string& id) const {
  std::lock_guard lock(mutex_);
  for (const auto& m : members_)
    if (m->id == id) return m;
  return nullptr;
}

void Pool::set_ready(const std::string& address, bool ready) { outliers_.set_ready(address, ready); }

void Pool::set_load(const std::string& address, const ScrapedLoad& load) {
  std::lock_guard lock(mutex_);
  for (auto& m : members_)
    if (m->id == address) m->load = load;
}

std::optional<Endpoint> Pool::pick(const RequestTraits& request, std::span<const std::string> tried) {
  const auto now = coarse_now();
  // The balancer's view of the members it may choose, taken under one lock; kept per io thread,
  // so that a pick allocates nothing once warm. The members are held only until the pick ends.
  thread_local std::vector<std::shared_ptr<Member>> candidates;
  thread_local std::vector<EndpointSnapshot> snapshot;
  candidates.clear();
  snapshot.clear();
  {
    std::lock_guard lock(mutex_);
    for (const auto& m : members_) {
      if (std::find(tried.begin(), tried.end(), m->id) != tried.end() || !outliers_.eligible(m->id, now)) continue;
      candidates.push_back(m);
      snapshot.push_back({.id = m->id,
                          .in_flight = m->in_flight.load(),
                          .running = m->load.running,
                          .waiting = m->load.waiting,
                          .kv_usage = m->load.kv_usage,
                          .ewma_latency_ms = m->ewma_ms});
    }
  }
  std::optional<Endpoint> chosen;
  if (!snapshot.empty()) {
    const std::string_view session = config_.balancer.kind == BalancerKind::SessionAffinity
                                         ? std::string_view(request.session_key)
                                         : std::string_view{};
    if (auto index = balancer_->pick(snapshot, {.prompt = request.prefix_text, .session_key = session, .random = random_draw()})) {
      const Member& m = *candidates[*index];
      chosen = Endpoint{config_.name, m.address.host, m.address.port, m.id};
    }
  }
  candidates.clear();
  return chosen;
}

void Pool::on_request() { retries_.on_request(coarse_now()); }

void Pool::on_attempt_start(const Endpoint& endpoint) {
  const std::string& id = endpoint.address;
  const auto m = find(id);
  if (m) m->in_flight++;
  (m ? m->metrics : metrics_for(id)).in_flight->add(1);
}

void Pool::on_attempt_end(const Endpoint& endpoint, const AttemptOutcome& outcome) {
  const std::string& id = endpoint.address;
  const auto now = coarse_now();
  const auto m = find(id);
  const MemberMetrics metrics = m ? m->metrics : metrics_for(id);  // it may have left the pool meanwhile
  if (m) {
    m->in_flight--;
    if (outcome.kind == AttemptOutcome::Kind::Success && outcome.status != 499) {
      const double ms = outcome.time_to_first_byte.count() * 1e3;
      std::lock_guard lock(mutex_);
      m->ewma_ms = m->ewma_ms == 0 ? ms : (1 - kEwmaWeight) * m->ewma_ms + kEwmaWeight * ms;
    }
  }
  metrics.in_flight->add(-1);
  metrics.attempts[static_cast<std::size_t>(outcome.kind)]->inc();
  if (outcome.status != 499) {
    metrics.latency->observe(outcome.latency.count());
    if (outcome.kind == AttemptOutcome::Kind::Success) metrics.first_byte->observe(outcome.time_to_first_byte.count());
  }
  const Outcome recorded = is_failure(outcome)                               ? Outcome::Failure
                           : outcome.kind == AttemptOutcome::Kind::Overloaded ? Outcome::Overloaded
                                                                              : Outcome::Success;
  if (outcome.status != 499) outliers_.record(id, recorded, now);
  if (recorded == Outcome::Failure) publish_health();  // an ejection shows at once, not at the next check
}

bool Pool::may_retry(int attempts) {
  if (!retries_.within_max_retries(static_cast<uint32_t>(attempts))) return false;
  if (!retries_.try_retry(coarse_now())) return false;
  metrics_->retries.labels({config_.name}).inc();
  return true;
}

PoolHealth Pool::health() { return outliers_.health(coarse_now()); }

void Pool::publish_health() {
  const PoolHealth h = health();
  metrics_->endpoints.labels({config_.name, "total"}).set(static_cast<double>(h.total));
  metrics_->endpoints.labels({config_.name, "healthy"}).set(static_cast<double>(h.healthy));
}

namespace {

class PoolSelector : public UpstreamSelector {
 public:
  explicit PoolSelector(std::vector<std::shared_ptr<Pool>> chain) : chain_(std::move(chain)) {}

  // The current pool first; once none of its endpoints is left, the next pool of the chain
  // (its backup), so a request whose pool just died is still served.
  std::optional<Endpoint> pick(const RequestTraits& request, std::span<const std::string> tried) override {
    if (tried.empty()) chain_.front()->on_request();
    for (; current_ < chain_.size(); ++current_)
      if (auto endpoint = chain_[current_]->pick(request, tried)) return endpoint;
    return std::nullopt;
  }
  void on_attempt_start(const Endpoint& e) override { pool_of(e).on_attempt_start(e); }
  void on_attempt_end(const Endpoint& e, const AttemptOutcome& o) override { pool_of(e).on_attempt_end(e, o); }
  bool may_retry(int attempts) override { return chain_[std::min(current_, chain_.size() - 1)]->may_retry(attempts); }

 private:
  Pool& pool_of(const Endpoint& e) {
    for (auto& p : chain_)
      if (p->name() == e.pool) return *p;
    return *chain_.front();
  }

  std::vector<std::shared_ptr<Pool>> chain_;  // a reload may replace pools; this request keeps its own
  std::size_t current_ = 0;
};

}  // namespace

std::shared_ptr<UpstreamSelector> select_from(std::vector<std::shared_ptr<Pool>> chain) {
  return std::make_shared<PoolSelector>(std::move(chain));
}

}  // namespace tide::gateway
