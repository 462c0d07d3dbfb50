#pragma once
// The whole system on one machine, as `tide up` runs it: a `tide gateway` process in front,
// each pool's replicas as `tide serve` processes (LocalReplicaSet), and per autoscaled pool a
// control loop (Controller) reading the replicas' and the gateway's /metrics. Also serves its
// own /status (JSON, what the terminal view shows) and /metrics.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "autoscaler/control/controller.h"
#include "autoscaler/local/child_process.h"
#include "autoscaler/local/cluster_view.h"
#include "autoscaler/local/cluster_config.h"
#include "autoscaler/local/local_replica_set.h"
#include "common/http/server.h"
#include "common/metrics.h"

namespace tide::autoscaler {

class LocalCluster {
 public:
  // `tide_program`: the binary to run replicas and the gateway with (normally this one).
  LocalCluster(ClusterConfig config, std::string tide_program);
  ~LocalCluster();

  // Starts the gateway, the replicas and the control loops. Throws tide::Error (with the
  // gateway's last output) when the gateway does not come up.
  void start();
  // Drains the replicas behind a still-running gateway, then stops the gateway.
  void stop();

  ClusterView view() const;
  // An early exit of the gateway, for the caller to stop on; empty while it runs.
  std::string gateway_failure() const;

 private:
  struct Pool;
  void control_loop();
  void serve_status(const std::shared_ptr<http::Exchange>& exchange);
  void update_metrics(const ClusterView& view);

  ClusterConfig config_;
  std::string program_;
  std::chrono::steady_clock::time_point started_;
  std::unique_ptr<ChildProcess> gateway_;
  std::string gateway_url_;
  std::vector<std::unique_ptr<Pool>> pools_;
  MetricsRegistry metrics_;
  std::unique_ptr<http::Server> status_;
  std::mutex control_mutex_;
  std::condition_variable control_wake_;
  bool control_stop_ = false;
  std::thread control_;
};

}  // namespace tide::autoscaler
