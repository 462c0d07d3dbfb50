#pragma once
// One configuration's worth of live policy objects; Gateway swaps whole states on reload.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/admission_queue.h"
#include "gateway/api_keys.h"
#include "gateway/gateway_config.h"
#include "gateway/rate_limiter.h"
#include "gateway/response_cache.h"
#include "gateway/router.h"
#include "gateway/runtime/pool.h"
#include "gateway/runtime/pool_watcher.h"

namespace tide::gateway {

struct GatewayState {
  GatewayConfig config;
  Router router;
  std::map<std::string, std::shared_ptr<Pool>, std::less<>> pools;
  std::vector<std::unique_ptr<PoolWatcher>> watchers;
  std::optional<ApiKeys> keys;  // empty: no auth
  std::unique_ptr<RateLimiter> limiter;  // null: no limits
  std::function<void()> limiter_errors;  // brings the Redis error count into the metric
  std::unique_ptr<ResponseCache> cache;  // null: disabled
  // Requests waiting for a pool with no replica up (scale to zero, a pool restarting).
  std::map<std::string, std::shared_ptr<AdmissionQueue>, std::less<>> queues;

  explicit GatewayState(GatewayConfig c) : config(std::move(c)), router(config) {}
  ~GatewayState() {
    for (auto& w : watchers) w->stop();
  }
};

}  // namespace tide::gateway
