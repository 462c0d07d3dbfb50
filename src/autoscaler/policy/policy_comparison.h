#pragma once
// Runs several policies over one trace under the same model and config, as
// `tide autoscale simulate` does: the static policy, unless the config fixes its count, is
// sized for the trace's peak (the cost of a pool without an autoscaler); the others start
// with the replicas the first minute needs.
#include <functional>
#include <string>
#include <vector>

#include "autoscaler/policy/scaling_config.h"
#include "autoscaler/policy/simulation_report.h"
#include "autoscaler/policy/simulator.h"
#include "autoscaler/policy/trace.h"

namespace tide::autoscaler {

// `options.interval_s` and `options.slo_ttft_s` are taken from `config`; `progress` gets the
// policy's name and the share of the trace done.
SimulationRun compare_policies(const std::string& trace_name, const Trace& trace, const ScalingConfig& config,
                               const std::vector<PolicyKind>& policies, SimulationOptions options,
                               const std::function<void(std::string_view, double)>& progress = {});

}  // namespace tide::autoscaler
