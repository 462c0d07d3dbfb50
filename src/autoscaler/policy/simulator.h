#pragma once
// Replays an arrival trace against a queueing model of a pool, with a scaling policy in the
// loop, so policies can be compared on cost and SLO before they run a real fleet.
//
// The model: Poisson arrivals at the trace's rate (seeded, so a run is reproducible); one
// FIFO queue in front of the pool (the gateway holds requests no replica can take); each ready
// replica runs up to `slots` requests at once, the least loaded taking the next one. A request's
// time to first token is its queue wait plus the prefill time; it then decodes for an
// exponentially distributed time. A new replica is ready `startup_s` after the policy asks
// for it. Scaling in cancels replicas still starting first, then drains the least loaded
// ready ones: out of rotation at once, stopped when their last request ends. A replica costs
// from the moment it is asked for until it stops.
//
// Every `interval_s` the policy sees a PoolSample built as the live signal sources build it:
// rates over the interval, the in-flight and waiting counts of that instant.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autoscaler/policy/scaling_config.h"
#include "autoscaler/policy/trace.h"
#include "autoscaler/scaling_policy.h"

namespace tide::autoscaler {

// One replica of the pool. The defaults are a conservative DeepSeek-V2-Lite replica on one H200
// (docs/autoscaler.md): 32 sequences per batch, 0.4 s to prefill a 1–2k-token prompt, 256
// output tokens at ~34 tokens/s per sequence (4 req/s per replica), and 90 s from a scheduled
// pod to ready (~31 GB of bf16 weights from a node-local cache, CUDA graphs captured).
struct ReplicaModel {
  int slots = 32;
  double prefill_s = 0.4;
  double decode_s = 7.6;  // mean; exponential
  double startup_s = 90;
  double output_tokens = 256;

  double capacity_rps() const { return slots / (prefill_s + decode_s); }
};

struct SimulationOptions {
  ReplicaModel replica;
  double interval_s = 15;
  double slo_ttft_s = 2;
  int initial_replicas = 1;  // ready at the trace's start
  uint64_t seed = 1;
};

struct TimelinePoint {
  double time_s;
  double trace_rps;  // the trace's rate at this tick
  int desired;
  int ready;
  int provisioned;   // ready + starting + draining: what is paid for
};

struct ScaleEvent {
  double time_s;
  int from, to;
  std::string reason;
};

struct SimulationResult {
  std::string policy;
  int64_t requests = 0;
  int64_t met_slo = 0;
  double attainment = 0;  // met_slo / requests
  double replica_hours = 0;
  double p50_ttft_s = 0, p99_ttft_s = 0;
  int max_replicas = 0;  // the most provisioned at once
  int scale_events = 0;
  std::vector<TimelinePoint> timeline;  // one point per control tick
  std::vector<ScaleEvent> events;
};

// `progress`, when set, is called with the simulated share done (0..1) every simulated hour.
SimulationResult simulate(const Trace& trace, ScalingPolicy& policy, const SimulationOptions& options,
                          const std::function<void(double)>& progress = {});

// The replicas that carry `rate_rps` at the config's utilization of the model's capacity,
// within [min_replicas, max_replicas]: the static policy's count for a trace's peak.
int replicas_for_rate(double rate_rps, const ScalingConfig& config, const ReplicaModel& replica);

}  // namespace tide::autoscaler
