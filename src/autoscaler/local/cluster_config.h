#pragma once
// `tide up`'s configuration: the gateway, the pools of local replicas behind it, and how each
// pool scales. One YAML file (docs/tide-up.md); without one, the demo model on the CPU with the
// reactive policy. Parsing is strict like the gateway's: unknown keys and bad values throw
// tide::Error naming the field.
//
// The gateway's own configuration is generated from it: each pool's `gateway:` settings plus a
// discovery file that `tide up` keeps listing the pool's ready replicas.
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "autoscaler/policy/scaling_config.h"
#include "autoscaler/signals/signals_config.h"

namespace tide::autoscaler {

struct ClusterPool {
  std::string name;
  std::string model = "demo";            // a model directory, or "demo"
  std::vector<std::string> serve_args;   // more `tide serve` options
  std::vector<std::vector<int>> device_groups;  // empty: CPU; else one GPU group per replica
  int cpu_threads = 0;                   // per CPU replica; 0: the machine's cores shared by max replicas
  int initial_replicas = 1;
  std::chrono::milliseconds start_timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(60)};
  YAML::Node gateway;                    // the pool's gateway settings, without discovery
  std::optional<ScalingConfig> scaling;  // none: a fixed count of initial_replicas
  signals::SignalsConfig signals;        // scrape (the default) or Prometheus
};

struct ClusterConfig {
  std::filesystem::path run_dir;  // logs, discovery files, the generated gateway config
  std::string status_host = "127.0.0.1";
  uint16_t status_port = 9400;     // /status (JSON) and /metrics of tide up; 0 picks one
  std::string gateway_host = "127.0.0.1";
  uint16_t gateway_port = 8080;
  YAML::Node gateway;              // the rest of the gateway's configuration (limits, routes, ...)
  std::chrono::milliseconds discovery_poll{500};  // how often the gateway re-reads the files
  std::vector<ClusterPool> pools;
};

// `default_run_dir` is used when the file names none.
ClusterConfig parse_cluster_config(std::string_view yaml, const std::string& source,
                                   const std::filesystem::path& default_run_dir);
ClusterConfig load_cluster_config(const std::filesystem::path& path, const std::filesystem::path& default_run_dir);
// The demo: one pool of the demo model on the CPU, 1 to 3 replicas, reactive scaling.
ClusterConfig default_cluster_config(const std::filesystem::path& run_dir);

// The gateway configuration for this cluster (YAML text), discovery pointing at each pool's
// file in the run directory. Checked with the gateway's own parser before it is written.
std::string gateway_config_yaml(const ClusterConfig& config);
std::filesystem::path discovery_file(const ClusterConfig& config, const std::string& pool);

}  // namespace tide::autoscaler
