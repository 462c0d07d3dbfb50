// tide autoscale: the autoscaler's offline tools (docs/autoscaler.md).
//   simulate: replay an arrival trace against a queueing model of the pool under each scaling
//             policy; a table of SLO attainment and cost, optionally JSON and an SVG plot.
//   trace:    write one of the shipped traces (share/autoscaler/traces/), bit for bit.
//   run:      the live control loop against a Kubernetes Deployment (autoscale_run_command.cc).
#include <spdlog/spdlog.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "autoscaler/policy/policy_comparison.h"
#include "autoscaler/policy/scaling_config.h"
#include "autoscaler/policy/simulation_report.h"
#include "autoscaler/policy/simulator.h"
#include "autoscaler/policy/trace.h"
#include "autoscaler/policy/trace_shapes.h"
#include "cli/commands.h"
#include "cli/json_output.h"
#include "common/error.h"

namespace tide::cli {
namespace {

using namespace autoscaler;

struct SimulateArgs {
  std::string trace;
  std::string config;
  std::vector<std::string> policies = {"static", "reactive", "predictive"};
  std::string svg_path;
  std::string json_path;
  uint64_t seed = 1;
  ReplicaModel replica;
  double startup_s = -1;  // the replica's start-up; by default the config's predictive.startup
};

PolicyKind kind_of(const std::string& name) {
  if (name == "static") return PolicyKind::Static;
  if (name == "reactive") return PolicyKind::Reactive;
  if (name == "predictive") return PolicyKind::Predictive;
  fail("--policies: \"{}\" is not one of static, reactive, predictive", name);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) fail("cannot write {}", path);
  spdlog::info("wrote {}", path);
}

std::string file_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

void run_simulate(const SimulateArgs& args) {
  const Trace trace = load_trace(args.trace);
  const ScalingConfig base = args.config.empty() ? ScalingConfig{} : load_scaling_config(args.config);
  if (args.policies.empty()) fail("--policies: name at least one policy");

  SimulationOptions options;
  options.replica = args.replica;
  options.replica.startup_s = args.startup_s >= 0 ? args.startup_s : base.predictive.startup_s;
  options.seed = args.seed;
  std::vector<PolicyKind> kinds;
  for (const std::string& name : args.policies) kinds.push_back(kind_of(name));
  double reported = 0;
  const SimulationRun run = compare_policies(file_name(args.trace), trace, base, kinds, options,
                                             [&](std::string_view policy, double done) {
                                               // A line per quarter of the trace; a day takes seconds.
                                               if (done < reported) reported = 0;
                                               if (done >= reported + 0.25) {
                                                 reported = done - std::fmod(done, 0.25);
                                                 spdlog::info("{}: {:.0f}% of the trace simulated", policy, reported * 100);
                                               }
                                             });

  std::cout << simulation_table(run);
  if (!args.svg_path.empty()) write_text(args.svg_path, simulation_svg(run));
  if (!args.json_path.empty()) {
    const nlohmann::json config = {{"trace", args.trace},
                                   {"config", args.config.empty() ? nlohmann::json(nullptr) : nlohmann::json(args.config)},
                                   {"policies", args.policies}};
    emit_json(simulation_json(run, config), args.json_path);
  }
}

void run_trace(const std::string& shape, const std::string& out) {
  const std::string text = format_trace(make_trace(shape), trace_shape_comment(shape));
  if (out.empty()) {
    std::cout << text;
    return;
  }
  write_text(out, text);
}

}  // namespace

void register_autoscale(CLI::App& app) {
  auto* autoscale = app.add_subcommand("autoscale", "The autoscaler: run it against a Kubernetes Deployment, or simulate its policies on arrival traces");
  autoscale->require_subcommand(1, 1);
  register_autoscale_run(*autoscale);

  auto args = std::make_shared<SimulateArgs>();
  auto* sim = autoscale->add_subcommand("simulate", "Replay an arrival trace against each scaling policy: SLO and cost");
  sim->add_option("--trace", args->trace, "CSV of time_s,rate_rps rows (share/autoscaler/traces/)")->required();
  sim->add_option("--config", args->config, "Scaling config YAML (docs/autoscaler.md); defaults without it");
  sim->add_option("--policies", args->policies, "Comma-separated: static, reactive, predictive")->delimiter(',');
  sim->add_option("--svg", args->svg_path, "Write an SVG plot of arrival rate and replicas over time");
  sim->add_option("--json", args->json_path, "Write the results (with timelines and scale events) as JSON");
  sim->add_option("--seed", args->seed, "Seed of the arrival and service-time draws");
  sim->add_option("--slots", args->replica.slots, "Concurrent requests per replica")->check(CLI::Range(1, 4096));
  sim->add_option("--prefill-s", args->replica.prefill_s, "Prefill time per request, seconds")->check(CLI::Range(0.0, 600.0));
  sim->add_option("--decode-s", args->replica.decode_s, "Mean decode time per request, seconds")->check(CLI::Range(0.001, 3600.0));
  sim->add_option("--startup-s", args->startup_s, "A replica's start-up time (default: the config's predictive.startup)")
      ->check(CLI::Range(0.0, 7200.0));
  sim->callback([args] { run_simulate(*args); });

  auto shape = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* trace = autoscale->add_subcommand("trace", "Write a shipped arrival trace (tidal, spike, ramp) as CSV");
  trace->add_option("shape", *shape, "tidal, spike or ramp")->required()->check(CLI::IsMember(trace_shape_names()));
  trace->add_option("--out", *out, "File to write (default: standard output)");
  trace->callback([shape, out] { run_trace(*shape, *out); });
}

}  // namespace tide::cli
