// tide autoscale run: the autoscaler as a service in front of a Kubernetes Deployment (for
// local processes, `tide up` embeds the same control loop). One YAML file with three sections,
// each parsed by its own layer: `kubernetes` (the Deployment and how to reach the API server),
// `signals` (scrape the pods' and the gateway's /metrics, or query Prometheus) and
// `autoscaling` (the policy, docs/autoscaler.md). `--dry-run` prints the API calls instead.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstring>

#include "autoscaler/control/controller.h"
#include "autoscaler/kubernetes/kubernetes_actuator.h"
#include "autoscaler/policy/make_policy.h"
#include "autoscaler/signals/signals_config.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/json_file.h"
#include "common/yaml_fields.h"

namespace tide::cli {
namespace {

struct AutoscaleRunArgs {
  std::string config;
  bool dry_run = false;
  int ticks = 0;  // 0: until SIGTERM
};

void run_autoscale(const AutoscaleRunArgs& args) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  YAML::Node root;
  try {
    root = YAML::Load(read_text_file(args.config));
  } catch (const YAML::Exception& e) {
    throw Error(args.config + ": not valid YAML: " + e.what());
  }
  YamlFields f(root, args.config);
  auto k8s = autoscaler::kubernetes::parse_kubernetes_config(f.child("kubernetes"), f.field_path("kubernetes"));
  if (args.dry_run) k8s.dry_run = true;
  auto signals_config = autoscaler::signals::parse_signals_config(f.child("signals"), f.field_path("signals"));
  const auto scaling = autoscaler::parse_scaling_config(f.child("autoscaling"), f.field_path("autoscaling"));
  f.finish();

  autoscaler::kubernetes::KubernetesActuator actuator(k8s);
  const auto scale = actuator.read_scale();  // fails early on a missing Deployment or RBAC rule
  spdlog::info("autoscaling deployment {} ({} replicas now, selector {}) with the {} policy, every {:.0f} s{}",
               actuator.deployment_path(), scale.spec_replicas, scale.selector,
               autoscaler::policy_name(scaling.policy), scaling.interval_s, k8s.dry_run ? " (dry run)" : "");
  auto source = autoscaler::signals::make_signal_source(signals_config, [&actuator] { return actuator.ready_replica_urls(); });
  auto policy = autoscaler::make_policy(scaling);
  autoscaler::Controller controller(k8s.deployment, *source, *policy, actuator);

  const auto started = std::chrono::steady_clock::now();
  for (int tick = 0; args.ticks == 0 || tick < args.ticks; ++tick) {
    const double now_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    try {
      controller.tick(now_s);
      const auto snapshot = controller.snapshot();
      spdlog::info("desired {} (ready {}): {}", snapshot.counts.desired, snapshot.counts.ready,
                   snapshot.signal_error.empty() ? snapshot.last_reason : "holding: " + snapshot.signal_error);
    } catch (const Error& e) {
      spdlog::error("control step failed: {}", e.what());  // the API server may be back next tick
    }
    const auto interval = std::chrono::duration<double>(scaling.interval_s);
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(interval);
    const timespec wait{secs.count(), static_cast<long>((interval - secs).count() * 1e9)};
    if (const int signal = sigtimedwait(&signals, nullptr, &wait); signal > 0) {
      spdlog::info("{}: stopping; the Deployment keeps its current scale", strsignal(signal));
      return;
    }
  }
}

}  // namespace

void register_autoscale_run(CLI::App& autoscale) {
  auto args = std::make_shared<AutoscaleRunArgs>();
  auto* cmd = autoscale.add_subcommand(
      "run",
      "Scale a Kubernetes Deployment of tide serve replicas from their load (docs/autoscaler-kubernetes.md).\n"
      "The config file has three sections: kubernetes, signals, autoscaling.");
  cmd->add_option("--config", args->config, "The autoscaler's YAML")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--dry-run", args->dry_run, "Print the Kubernetes API calls instead of sending them");
  cmd->add_option("--ticks", args->ticks, "Stop after this many control steps (0: until SIGTERM)")->check(CLI::NonNegativeNumber);
  cmd->callback([args] { run_autoscale(*args); });
}

}  // namespace tide::cli
