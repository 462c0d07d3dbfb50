#pragma once
// The local actuator of `tide up`: a pool's replicas as `tide serve` processes on this machine,
// kept at the desired count the way a Deployment controller keeps pods.
//
// A replica's life: Starting (process up, /ready not yet 200) → Ready (listed in the pool's
// discovery file, so the gateway sends it traffic) → Draining (taken out of the file first;
// once the gateway has re-read it, SIGTERM: the replica finishes what it serves, answers 503
// to anything new, which the gateway retries elsewhere, and exits) → gone. Scaling in never
// cuts a request. A replica that dies on its own is replaced, with a growing back-off when
// starts keep failing.
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "autoscaler/actuator.h"
#include "autoscaler/local/child_process.h"

namespace tide::autoscaler {

struct ReplicaTemplate {
  std::string program;                  // the tide binary
  std::vector<std::string> serve_args;  // after `serve`, without --host/--port
  std::string host = "127.0.0.1";
  // GPUs: each replica takes one group (CUDA_VISIBLE_DEVICES); empty: CPU replicas, no limit.
  std::vector<std::vector<int>> device_groups;
  int cpu_threads = 0;  // CPU replicas: OMP_NUM_THREADS, unless the environment sets it; 0: all cores
  std::chrono::milliseconds start_timeout{std::chrono::minutes(10)};  // to /ready, e.g. loading weights
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(60)};  // passed as --drain-timeout
  // How long the gateway may take to notice the discovery file changed (its file_poll, plus a
  // margin): a draining replica gets SIGTERM only after that.
  std::chrono::milliseconds rotation_delay{std::chrono::seconds(2)};
  std::filesystem::path log_dir;         // replica-<pool>-<n>.log
  std::filesystem::path discovery_file;  // host:port of each Ready replica, rewritten atomically
};

enum class ReplicaState { Starting, Ready, Draining, Exited };
std::string_view to_string(ReplicaState state);

struct ReplicaStatus {
  int id = 0;
  ReplicaState state = ReplicaState::Starting;
  std::string url;      // empty until the replica printed it
  int pid = 0;
  double age_s = 0;     // in this state
  std::string devices;  // "0,1", or empty on the CPU
  std::string note;     // why it exited, for the view
};

class LocalReplicaSet : public Actuator {
 public:
  LocalReplicaSet(std::string pool, ReplicaTemplate replica, int initial);
  // Drains every replica (stop()).
  ~LocalReplicaSet() override;

  ReplicaCounts observe() override;
  void scale_to(int replicas, const std::string& reason) override;

  std::vector<ReplicaStatus> replicas() const;
  // Base URLs of the Ready replicas (for the signal source).
  std::vector<std::string> ready_urls() const;
  // Drains everything: out of rotation, SIGTERM, and SIGKILL for what is left after `grace`.
  // Replicas still starting are killed at once.
  void stop(std::chrono::milliseconds grace);

 private:
  struct Replica;
  void run();        // the reconcile loop, every 100 ms until stop()
  void reconcile();  // one pass: promote, retire, replace, start, drain
  void drain_all();  // on stop(), from the loop thread
  void start_one();
  bool has_free_devices() const;
  std::optional<std::vector<int>> free_group() const;
  void write_discovery_file() const;

  const std::string pool_;
  const ReplicaTemplate template_;
  mutable std::mutex mutex_;
  int desired_;
  int next_id_ = 1;
  std::vector<std::unique_ptr<Replica>> replicas_;
  int consecutive_failures_ = 0;
  std::chrono::steady_clock::time_point next_start_allowed_{};
  bool stopping_ = false;
  bool rotation_dirty_ = false;  // the discovery file is behind the replicas' states
  std::chrono::milliseconds stop_grace_{0};
  std::thread loop_;
};

}  // namespace tide::autoscaler
