#include "autoscaler/local/local_cluster.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <fstream>

#include "autoscaler/policy/make_policy.h"
#include "common/error.h"

namespace tide::autoscaler {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// CPU replicas share the machine's cores: each gets its share at the pool's largest size, so
// a scale-out does not oversubscribe the cores (OpenMP teams fighting for the same cores run a
// decode step many times slower).
int cpu_threads_for(const ClusterPool& pool, const ClusterConfig& config) {
  if (pool.cpu_threads > 0) return pool.cpu_threads;
  int most = 0;
  for (const auto& p : config.pools)
    if (p.device_groups.empty()) most += p.scaling ? p.scaling->max_replicas : p.initial_replicas;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, most));
}

}  // namespace

struct LocalCluster::Pool {
  explicit Pool(const ClusterPool& c) : config(c) {}
  const ClusterPool& config;
  std::unique_ptr<LocalReplicaSet> replicas;
  std::unique_ptr<SignalSource> signals;
  std::unique_ptr<ScalingPolicy> policy;
  std::unique_ptr<Controller> controller;
  double next_tick_s = 0;
};

LocalCluster::LocalCluster(ClusterConfig config, std::string tide_program)
    : config_(std::move(config)), program_(std::move(tide_program)) {}

LocalCluster::~LocalCluster() { stop(); }

void LocalCluster::start() {
  started_ = Clock::now();
  std::filesystem::create_directories(config_.run_dir);
  const auto gateway_config = config_.run_dir / "gateway.yaml";
  {
    std::ofstream out(gateway_config, std::ios::trunc);
    out << gateway_config_yaml(config_);
    if (!out) throw Error("cannot write " + gateway_config.string());
  }

  // The replicas first (their discovery files exist before the gateway reads them); the
  // gateway holds requests that arrive before the first replica is ready.
  for (const auto& pool : config_.pools) {
    std::vector<std::string> serve_args{"--model", pool.model};
    serve_args.insert(serve_args.end(), pool.serve_args.begin(), pool.serve_args.end());
    ReplicaTemplate replica{.program = program_,
                            .serve_args = std::move(serve_args),
                            .host = "127.0.0.1",
                            .device_groups = pool.device_groups,
                            .cpu_threads = pool.device_groups.empty() ? cpu_threads_for(pool, config_) : 0,
                            .start_timeout = pool.start_timeout,
                            .drain_timeout = pool.drain_timeout,
                            .rotation_delay = config_.discovery_poll * 2 + milliseconds(500),
                            .log_dir = config_.run_dir,
                            .discovery_file = discovery_file(config_, pool.name)};
    auto p = std::make_unique<Pool>(pool);
    p->replicas = std::make_unique<LocalReplicaSet>(pool.name, std::move(replica), pool.initial_replicas);
    pools_.push_back(std::move(p));
  }

  gateway_ = std::make_unique<ChildProcess>(ChildSpec{
      .program = program_,
      .args = {"gateway", "--config", gateway_config.string(), "--host", config_.gateway_host, "--port",
               std::to_string(config_.gateway_port)},
      .env = {},
      .log_file = config_.run_dir / "gateway.log"});
  const auto url = gateway_->wait_for_url(milliseconds(30'000));
  if (!url)
    throw Error("the gateway did not start (" + gateway_->exit_status().value_or("no answer in 30 s") +
                "); its last output:\n" + gateway_->tail(15));
  gateway_url_ = *url;
  spdlog::info("gateway listening on {} (log: {})", gateway_url_, (config_.run_dir / "gateway.log").string());

  for (auto& pool : pools_) {
    if (!pool->config.scaling) continue;
    signals::SignalsConfig signals = pool->config.signals;
    if (signals.source == signals::SignalsConfig::Source::kScrape && signals.gateway_url.empty()) {
      signals.gateway_url = gateway_url_;
      signals.gateway_pool = pool->config.name;
    }
    LocalReplicaSet* set = pool->replicas.get();
    pool->signals = signals::make_signal_source(signals, [set] { return set->ready_urls(); });
    pool->policy = make_policy(*pool->config.scaling);
    pool->controller = std::make_unique<Controller>(pool->config.name, *pool->signals, *pool->policy, *pool->replicas);
  }

  http::ServerOptions options;
  options.host = config_.status_host;
  options.port = config_.status_port;
  options.threads = 1;
  status_ = std::make_unique<http::Server>(options, [this](std::shared_ptr<http::Exchange> e) { serve_status(e); });
  status_->start();
  spdlog::info("tide up status and metrics listening on http://{}:{}", config_.status_host, status_->port());
  control_ = std::thread([this] { control_loop(); });
}

void LocalCluster::control_loop() {
  std::unique_lock lock(control_mutex_);
  while (!control_stop_) {
    lock.unlock();
    const double now_s = std::chrono::duration<double>(Clock::now() - started_).count();
    for (auto& pool : pools_)
      if (pool->controller && now_s >= pool->next_tick_s) {
        pool->next_tick_s = now_s + pool->config.scaling->interval_s;
        try {
          pool->controller->tick(now_s);
        } catch (const std::exception& e) {
          spdlog::error("pool {}: control step failed: {}", pool->config.name, e.what());
        }
      }
    update_metrics(view());
    lock.lock();
    control_wake_.wait_for(lock, milliseconds(250), [this] { return control_stop_; });
  }
}

void LocalCluster::stop() {
  {
    std::lock_guard lock(control_mutex_);
    control_stop_ = true;
  }
  control_wake_.notify_all();
  if (control_.joinable()) control_.join();
  // The gateway stays up while the replicas drain, so the requests they finish reach their clients.
  for (auto& pool : pools_) pool->replicas->stop(pool->config.drain_timeout + std::chrono::seconds(5));
  if (gateway_ && gateway_->running()) {
    gateway_->signal(SIGTERM);
    if (!gateway_->wait_exit(milliseconds(15'000))) gateway_->signal(SIGKILL);
  }
  if (status_) status_->shutdown(milliseconds(1000));
}

std::string LocalCluster::gateway_failure() const {
  if (!gateway_ || gateway_->running()) return {};
  return "the gateway exited (" + gateway_->exit_status().value_or("?") + "); its last output:\n" + gateway_->tail(15);
}

ClusterView LocalCluster::view() const {
  ClusterView view{.gateway_url = gateway_url_,
                   .status_url = status_ ? fmt::format("http://{}:{}", config_.status_host, status_->port()) : "",
                   .run_dir = config_.run_dir.string(),
                   .uptime_s = std::chrono::duration<double>(Clock::now() - started_).count(),
                   .pools = {}};
  for (const auto& pool : pools_) {
    PoolView p{.name = pool->config.name,
               .policy = pool->policy ? std::string(pool->policy->name()) : "fixed",
               .counts = pool->replicas->observe(),
               .replicas = pool->replicas->replicas(),
               .control = std::nullopt};
    if (pool->controller) p.control = pool->controller->snapshot();
    view.pools.push_back(std::move(p));
  }
  return view;
}

void LocalCluster::update_metrics(const ClusterView& view) {
  auto& replicas = metrics_.gauge("tide_autoscaler_replicas", "Replicas of the pool by state", {"pool", "state"});
  auto& desired = metrics_.gauge("tide_autoscaler_desired_replicas", "Replicas the pool is scaled to", {"pool"});
  auto& signal = metrics_.gauge("tide_autoscaler_signal", "The newest sample of the pool's signals", {"pool", "signal"});
  for (const auto& pool : view.pools) {
    replicas.labels({pool.name, "ready"}).set(pool.counts.ready);
    replicas.labels({pool.name, "starting"}).set(pool.counts.starting);
    replicas.labels({pool.name, "draining"}).set(pool.counts.draining);
    desired.labels({pool.name}).set(pool.counts.desired);
    if (!pool.control || !pool.control->sample) continue;
    const PoolSample& s = *pool.control->sample;
    for (const auto& [name, value] : {std::pair{"in_flight", s.in_flight}, {"waiting", s.waiting}, {"kv_usage", s.kv_usage},
                                      {"tokens_per_s", s.tokens_per_s}, {"arrival_rate", s.arrival_rate},
                                      {"completion_rate", s.completion_rate}, {"slo_attainment", s.slo_attainment}})
      if (std::isfinite(value)) signal.labels({pool.name, name}).set(value);
  }
}

void LocalCluster::serve_status(const std::shared_ptr<http::Exchange>& exchange) {
  const auto target = http::view(exchange->request().target());
  http::Response response{http::Status::ok, 11};
  if (target == "/status") {
    response.set(http::Field::content_type, "application/json");
    response.body() = to_json(view()).dump();
  } else if (target == "/metrics") {
    response.set(http::Field::content_type, "text/plain; version=0.0.4");
    response.body() = metrics_.render();
  } else {
    response.result(http::Status::not_found);
    response.set(http::Field::content_type, "text/plain");
    response.body() = "tide up serves /status and /metrics\n";
  }
  exchange->respond(std::move(response));
}

}  // namespace tide::autoscaler
