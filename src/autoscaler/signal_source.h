#pragma once
// Where a pool's samples come from: the replicas' and the gateway's /metrics scraped directly,
// or a Prometheus server's query API.
#include "autoscaler/pool_sample.h"

namespace tide::autoscaler {

class SignalSource {
 public:
  virtual ~SignalSource() = default;
  // A sample at `now_s`; rates over the time since the previous call. Throws tide::Error when
  // no signal could be read at all (the controller then holds the current scale).
  virtual PoolSample sample(double now_s) = 0;
};

}  // namespace tide::autoscaler
