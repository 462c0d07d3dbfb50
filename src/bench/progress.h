#pragma once
// The live state of a run on stderr: sent, completed, failed, in flight and elapsed time. On a
// terminal one line is redrawn (`\r`) at most every 0.5 s; into a file or CI log a new line is
// written every 10 s instead, so logs stay readable.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace tide::bench {

// Updated by the request threads, read by the progress line.
struct Counters {
  std::atomic<int> sent{0};
  std::atomic<int> completed{0};
  std::atomic<int> failed{0};
  std::atomic<int> in_flight{0};
};

class ProgressLine {
 public:
  ProgressLine(const Counters& counters, int total);
  // Draws the final state and ends the line.
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

 private:
  void draw(bool last) const;

  const Counters& counters_;
  int total_;
  bool terminal_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tide::bench
