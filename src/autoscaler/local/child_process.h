#pragma once
// A child process `tide up` runs (a replica, the gateway): started with fork+exec, its output
// teed line by line into a log file and scanned for the "listening on http://host:port" line
// every Tide server prints once bound. It dies with its parent (PR_SET_PDEATHSIG), so a
// `tide up` killed outright leaves no orphans behind.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace tide::autoscaler {

struct ChildSpec {
  std::string program;             // absolute path, or a name looked up in PATH
  std::vector<std::string> args;   // without argv[0]
  std::vector<std::pair<std::string, std::string>> env;  // set on top of the parent's
  std::filesystem::path log_file;  // stdout and stderr, appended
};

class ChildProcess {
 public:
  // Starts the process. Throws tide::Error when it cannot be started (no such program, no
  // permission, the log file cannot be opened).
  explicit ChildProcess(ChildSpec spec);
  // Kills the process (SIGKILL) if it still runs, and reaps it.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The URL from the "listening on" line, once printed.
  std::optional<std::string> url() const;
  // Waits up to `timeout` for the "listening on" line; nullopt on timeout or exit first.
  std::optional<std::string> wait_for_url(std::chrono::milliseconds timeout);

  bool running() const;
  // The exit status once exited ("exit 0", "signal 9"), nullopt while running.
  std::optional<std::string> exit_status() const;
  void signal(int signo);
  // Waits up to `timeout` for the process to exit; true when it has.
  bool wait_exit(std::chrono::milliseconds timeout);
  // The last lines it printed, for error messages.
  std::string tail(std::size_t lines = 20) const;

 private:
  void pump(int fd);  // reads output until EOF
  void reap();        // waits for the exit; the exit does not wait for the output to end

  ChildSpec spec_;
  int log_fd_ = -1;
  pid_t pid_ = -1;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<std::string> url_;
  std::optional<std::string> exit_status_;
  std::vector<std::string> recent_;  // the last lines, oldest first
  std::atomic<bool> output_done_{false};
  std::thread reader_, waiter_;
};

}  // namespace tide::autoscaler
