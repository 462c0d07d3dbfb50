#pragma once
// Keeps one pool's view of its replicas current, on a thread of its own:
//  - discovery: a static list (names resolved again every dns_refresh), a DNS name (every
//    address it resolves to: a Kubernetes headless Service), or a file of host:port lines
//    re-read when it changes;
//  - active health: every health_check.interval, each replica's /ready (a draining or
//    unreachable replica gets no new requests) and its /metrics (running, waiting, KV usage
//    for the balancers).
// A replica that joins gets traffic from its first successful check; one that leaves gets no
// new requests, while those it is serving finish.
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "gateway/runtime/pool.h"

namespace tide::gateway {

// Every address `host` resolves to (itself when it is an address), at `port`. Empty when the
// name does not resolve; never throws.
std::vector<HostPort> resolve_all(const HostPort& address);

// host:port lines of a discovery file; '#' starts a comment; a malformed line is skipped and
// named in `problems`.
std::vector<HostPort> parse_endpoint_list(std::string_view text, std::vector<std::string>* problems = nullptr);

class PoolWatcher {
 public:
  explicit PoolWatcher(std::shared_ptr<Pool> pool);
  ~PoolWatcher();
  PoolWatcher(const PoolWatcher&) = delete;
  PoolWatcher& operator=(const PoolWatcher&) = delete;

  // Discovers and checks once, synchronously (so a gateway starts with a known pool), then
  // keeps doing so on the watcher's thread.
  void start();
  void stop();

 private:
  void run();
  void discover();
  void check_health();

  std::shared_ptr<Pool> pool_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  std::filesystem::file_time_type file_mtime_{};
  bool file_seen_ = false;
};

}  // namespace tide::gateway
