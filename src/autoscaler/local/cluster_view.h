#pragma once
// What `tide up` shows: the state of the gateway, each pool's replicas, its load and its
// recent scaling decisions with their reasons; as JSON (GET /status) and as the live terminal
// view.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "autoscaler/control/controller.h"
#include "autoscaler/local/local_replica_set.h"

namespace tide::autoscaler {

struct PoolView {
  std::string name;
  std::string policy;  // "fixed" without autoscaling
  ReplicaCounts counts;
  std::vector<ReplicaStatus> replicas;
  std::optional<ControllerSnapshot> control;
};

struct ClusterView {
  std::string gateway_url;
  std::string status_url;
  std::string run_dir;
  double uptime_s = 0;
  std::vector<PoolView> pools;
};

nlohmann::json to_json(const ClusterView& view);
// The terminal view, `width` columns wide (reasons are cut to fit).
std::string render_terminal(const ClusterView& view, std::size_t width);

}  // namespace tide::autoscaler
