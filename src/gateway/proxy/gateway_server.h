#pragma once
// The gateway's front door: an OpenAI-compatible HTTP endpoint that checks each request,
// forwards it to a replica chosen by the UpstreamSelector, and relays the answer.
//
//   POST /v1/completions, POST /v1/chat/completions   forwarded (JSON or SSE, relayed as it comes)
//   GET  /v1/models                                   forwarded to any replica
//   GET  /health    200 while the process runs
//   GET  /ready     200 while accepting, 503 once draining
//   GET  /metrics   tide_gateway_* in Prometheus text format
#include <atomic>
#include <chrono>
#include <memory>

#include "common/http/server.h"
#include "common/metrics.h"
#include "gateway/proxy/connection_pool.h"
#include "gateway/proxy/endpoint.h"
#include "gateway/proxy/forwarder.h"
#include "gateway/proxy/request_policy.h"

namespace tide::gateway {

struct GatewayServerOptions {
  http::ServerOptions http;
  ForwardSettings forward;
  std::size_t max_idle_connections_per_replica = 256;
  std::chrono::milliseconds upstream_idle_ttl{20'000};  // below tide serve's 60 s keep-alive
  int max_json_depth = 64;
  bool access_log = true;
};

class GatewayServer {
 public:
  // `policy` and `metrics` must outlive the server.
  GatewayServer(GatewayServerOptions options, RequestPolicy& policy, MetricsRegistry& metrics);
  ~GatewayServer();

  void start();
  uint16_t port() const { return http_->port(); }
  // /ready turns 503 and new requests are refused; requests in flight go on.
  void begin_drain() { draining_ = true; }
  int in_flight() const { return in_flight_.load(); }
  void shutdown(std::chrono::milliseconds grace);

 private:
  void handle(const std::shared_ptr<http::Exchange>& exchange);
  void forward(const std::shared_ptr<http::Exchange>& exchange, RequestTraits traits);
  void mirror(const std::shared_ptr<http::Exchange>& exchange, const RequestTraits& traits,
              std::shared_ptr<UpstreamSelector> selector, const std::string& request_id,
              const std::shared_ptr<struct MirrorPair>& pair);

  GatewayServerOptions options_;
  RequestPolicy& policy_;
  MetricsRegistry& metrics_;
  Family<Counter>& requests_;
  Family<Histogram>& duration_;
  Family<Counter>& broken_streams_;
  Gauge& in_flight_gauge_;
  std::atomic<int> in_flight_{0};
  std::atomic<bool> draining_{false};
  std::unique_ptr<http::Server> http_;
  std::unique_ptr<ConnectionPool> pool_;  // after http_: idle upstream sockets go before the io_context
};

}  // namespace tide::gateway
