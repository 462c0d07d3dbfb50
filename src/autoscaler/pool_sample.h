#pragma once
// One observation of a pool of replicas, taken at each control tick. Signal sources (direct
// scrapes of /metrics, or a Prometheus server) fill it; scaling policies and the simulator read
// it. Rates are per second over the interval since the previous sample.
#include <cmath>
#include <limits>

namespace tide::autoscaler {

struct PoolSample {
  double time_s = 0;           // seconds on the controller's clock (simulated time in the simulator)
  int ready = 0;               // replicas serving traffic
  int starting = 0;            // started (or requested), not yet ready
  double in_flight = 0;        // requests running, summed over ready replicas
  double waiting = 0;          // requests queued: the replicas' waiting queues plus the gateway's held
  double kv_usage = 0;         // mean KV-cache usage over ready replicas, in [0, 1]
  double tokens_per_s = 0;     // generated tokens per second, pool total
  double arrival_rate = 0;     // requests per second arriving at the pool
  double completion_rate = 0;  // requests per second finished by the pool
  // Share of requests finished since the last sample whose time to first token met the SLO;
  // NaN when none finished.
  double slo_attainment = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace tide::autoscaler
