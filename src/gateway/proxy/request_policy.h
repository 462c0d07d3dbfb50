#pragma once
// What the front door asks of the gateway's policies for each request: whether it may pass
// (auth, limits), where it goes (route, pool, failover), whether a shadow copy goes elsewhere
// (mirroring), and what to answer when no replica can (degradation).
#include <functional>
#include <memory>
#include <optional>

#include "common/http/exchange.h"
#include "gateway/proxy/endpoint.h"
#include "gateway/proxy/forwarder.h"

namespace tide::gateway {

struct ForwardPlan {
  std::shared_ptr<UpstreamSelector> selector;    // the pool that serves the request
  std::optional<ProxyTimeouts> timeouts;         // the pool's; else the server's defaults
  std::optional<http::Response> immediate;       // answer this instead of forwarding (cached answer)
  std::shared_ptr<UpstreamSelector> mirror;      // a shadow copy goes here; its answer is discarded
  std::function<void(const ForwardResult&)> on_done;  // usage accounting, caching; may be empty
  // When forwarding ends in a gateway error (502/503/504): a degraded answer, if there is one.
  std::function<std::optional<http::Response>()> degrade;
  // Set when the request must wait for a replica (none is up yet): hold(resume) queues it and
  // returns false when the queue is full (answer 429). resume(true) later means plan again and
  // forward; resume(false) means it waited too long (answer 503). resume may run on any thread.
  std::function<bool(std::function<void(bool)>)> hold;
};

class RequestPolicy {
 public:
  virtual ~RequestPolicy() = default;
  // Throws server::ApiError to refuse the request (401, 404, 429 with Retry-After, 503). May
  // fill in `traits` (the caller's key fingerprint, the session key the chosen pool balances
  // on). Thread-safe: called from every io thread.
  virtual ForwardPlan plan(const http::Request& request, RequestTraits& traits) = 0;
  // A mirrored copy finished: its result, and the primary's, for comparison.
  virtual void mirrored(const ForwardResult& primary, const ForwardResult& shadow) {}
};

}  // namespace tide::gateway
