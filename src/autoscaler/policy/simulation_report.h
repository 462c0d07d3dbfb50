#pragma once
// What `tide autoscale simulate` shows: a table for people, JSON for machines, and an SVG
// plot of the arrival rate and each policy's replicas over time.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "autoscaler/policy/simulator.h"
#include "autoscaler/policy/trace.h"

namespace tide::autoscaler {

struct SimulationRun {
  std::string trace_name;
  const Trace* trace;
  SimulationOptions options;
  std::vector<SimulationResult> results;
};

// Replica-hours as a share of the static policy's, when the run has one; else NaN.
double share_of_static(const SimulationRun& run, const SimulationResult& result);

std::string simulation_table(const SimulationRun& run);
nlohmann::json simulation_json(const SimulationRun& run, const nlohmann::json& config);
std::string simulation_svg(const SimulationRun& run);

}  // namespace tide::autoscaler
