#pragma once
// The gateway at run time: the configuration's policies joined to the data path. For each
// request, in order: API key (401), rate limits (429 with Retry-After), route and pool with
// failover (404 when no route matches), the pool's balancer; a mirrored copy where the route
// says so; usage settled with the limiter and deterministic answers cached once the request
// ends; and a cached answer when no replica can give one.
//
// reload() swaps in a new configuration without dropping a request: requests in flight keep
// the pools they started with; new ones see the new pools, which were discovered and
// health-checked before the swap. The listen address is read once, at start.
#include <filesystem>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/metrics.h"
#include "gateway/gateway_config.h"
#include "gateway/proxy/gateway_server.h"
#include "gateway/proxy/request_policy.h"

namespace tide::gateway {

struct GatewayState;

class Gateway : public RequestPolicy {
 public:
  // `threads`: io threads serving clients and replicas; 0 = one per core, at least 2.
  Gateway(GatewayConfig config, MetricsRegistry& metrics, bool access_log = true, int threads = 0);
  ~Gateway() override;

  void start();
  uint16_t port() const { return server_->port(); }
  // Throws tide::Error (the config's own message) and keeps the running configuration.
  void reload(GatewayConfig config);
  // A new configuration could not be read or parsed: counted, the running one stays.
  void reload_refused();
  void begin_drain() { server_->begin_drain(); }
  int in_flight() const { return server_->in_flight(); }
  void shutdown(std::chrono::milliseconds grace);

  ForwardPlan plan(const http::Request& request, RequestTraits& traits) override;
  void mirrored(const ForwardResult& primary, const ForwardResult& shadow) override;

 private:
  std::shared_ptr<GatewayState> build(GatewayConfig config);
  std::shared_ptr<GatewayState> state() const;
  // Every 50 ms: releases held requests of pools that have a replica up, expires the rest.
  void tick_queues();

  MetricsRegistry& metrics_;
  struct Metrics;
  std::unique_ptr<Metrics> m_;
  mutable std::mutex mutex_;
  std::shared_ptr<GatewayState> state_;
  std::unique_ptr<GatewayServer> server_;
  std::mutex ticker_mutex_;
  std::condition_variable ticker_wake_;
  bool ticker_stop_ = false;
  std::thread ticker_;
};

}  // namespace tide::gateway
