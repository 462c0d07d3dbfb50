#pragma once
// A process a test starts (tide serve, prometheus): its stdout and stderr are read through a
// pipe, so a test can wait for the line that says it is up; it is killed when the test ends.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace tide::autoscaler::signals::testing {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with the rest as its arguments.
  explicit ChildProcess(const std::vector<std::string>& argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads output until a line contains `marker`, and returns the word that follows it (up to
  // the next blank; empty when none); nullopt when the process exits or `timeout` passes first.
  std::optional<std::string> wait_for(const std::string& marker, std::chrono::milliseconds timeout);
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string output_;
  std::size_t scanned_ = 0;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();
// The first executable named `name` on $PATH; empty when none.
std::string find_on_path(const std::string& name);

}  // namespace tide::autoscaler::signals::testing
