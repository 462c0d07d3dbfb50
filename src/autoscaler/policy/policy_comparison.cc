#include "autoscaler/policy/policy_comparison.h"

#include "autoscaler/policy/make_policy.h"

namespace tide::autoscaler {

SimulationRun compare_policies(const std::string& trace_name, const Trace& trace, const ScalingConfig& base,
                               const std::vector<PolicyKind>& policies, SimulationOptions options,
                               const std::function<void(std::string_view, double)>& progress) {
  options.interval_s = base.interval_s;
  options.slo_ttft_s = base.slo.ttft_s;
  SimulationRun run{trace_name, &trace, options, {}};
  for (const PolicyKind kind : policies) {
    ScalingConfig config = base;
    config.policy = kind;
    if (kind == PolicyKind::Static && !config.static_policy.replicas)
      config.static_policy.replicas = replicas_for_rate(trace.peak_rps(), config, options.replica);
    options.initial_replicas = kind == PolicyKind::Static ? *config.static_policy.replicas
                                                          : replicas_for_rate(trace.rows.front().rate_rps, config, options.replica);
    const auto policy = make_policy(config);
    std::function<void(double)> report;
    if (progress) report = [&](double done) { progress(policy_name(kind), done); };
    run.results.push_back(simulate(trace, *policy, options, report));
  }
  return run;
}

}  // namespace tide::autoscaler
