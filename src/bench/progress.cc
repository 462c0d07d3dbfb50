#include "bench/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace tide::bench {

ProgressLine::ProgressLine(const Counters& counters, int total)
    : counters_(counters), total_(total), terminal_(isatty(STDERR_FILENO) == 1) {
  const auto interval = terminal_ ? std::chrono::milliseconds(500) : std::chrono::milliseconds(10'000);
  thread_ = std::thread([this, interval] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval, [this] { return stop_; })) draw(false);
  });
}

ProgressLine::~ProgressLine() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  draw(true);
}

void ProgressLine::draw(bool last) const {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  const std::string line =
      fmt::format("sent {}/{}  completed {}  failed {}  in flight {}  elapsed {:.1f} s", counters_.sent.load(), total_,
                  counters_.completed.load(), counters_.failed.load(), counters_.in_flight.load(), elapsed);
  // "\033[K" clears what a longer previous line left behind.
  if (terminal_) std::fputs(fmt::format("\r{}\033[K{}", line, last ? "\n" : "").c_str(), stderr);
  else std::fputs(fmt::format("{}\n", line).c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace tide::bench
