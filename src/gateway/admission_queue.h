#pragma once
// Requests the gateway holds instead of sending: every replica is saturated, or (scale to
// zero) the first replica is still starting. One FIFO per priority class of the `admission`
// config, each with its own max_size and timeout; the first class is the highest.
//
// Built for an async proxy: enqueue() returns at once and the request's handler is resumed
// later through its callback, with true (capacity freed: send it now) or false (it waited
// past its deadline: answer 503 with Retry-After). A class that is full refuses at enqueue
// (answer 429). Capacity is handed out highest class first, FIFO within a class, so a flood of
// low-priority requests never delays a high one, and a low one waits only while higher ones
// are queued.
//
// Thread-safe. Callbacks run on the thread that calls release/expire/drain, after the lock is
// released, so a callback may enqueue or release again.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "gateway/gateway_config.h"
#include "gateway/token_bucket.h"

namespace tide::gateway {

class AdmissionQueue {
 public:
  using Resume = std::function<void(bool admitted)>;

  explicit AdmissionQueue(AdmissionConfig config);
  // Waiters still queued are dropped without a call: drain() first to answer them.
  ~AdmissionQueue() = default;

  // The class named by the priority header's value. Empty or unknown names get the class named
  // "default" when there is one, else the lowest, so a made-up name never jumps the queue.
  std::size_t priority_of(std::string_view name) const;
  // now + the class's timeout: the deadline to enqueue with (or earlier, for a request that
  // has its own deadline).
  Clock::time_point deadline(std::size_t priority, Clock::time_point now) const;

  // Queues a waiter; false (nothing queued, resume never called) when the class already holds
  // max_size waiters or `priority` is not a class. A deadline in the past is honoured by the
  // next expire().
  bool enqueue(std::size_t priority, Clock::time_point deadline, Resume resume);
  // Resumes the first waiter of the highest non-empty class with true; false if none waits.
  bool release_one();
  // Resumes up to n waiters, in release_one's order; returns how many.
  std::size_t release(std::size_t n);
  // Resumes every waiter whose deadline is at or before `now` with false, earliest deadline
  // first; returns how many.
  std::size_t expire(Clock::time_point now);
  // Resumes every waiter with false (shutting down); returns how many.
  std::size_t drain();

  std::size_t size() const;
  std::size_t size(std::size_t priority) const;
  // The earliest deadline queued, for the proxy's timer; nullopt when empty.
  std::optional<Clock::time_point> next_deadline() const;
  std::size_t classes() const { return config_.queues.size(); }

 private:
  struct Waiter;
  using Deadlines = std::multimap<Clock::time_point, std::pair<std::size_t, std::list<Waiter>::iterator>>;
  struct Waiter {
    Resume resume;
    Deadlines::iterator deadline;
  };

  AdmissionConfig config_;
  std::size_t default_class_;
  mutable std::mutex mutex_;
  std::vector<std::list<Waiter>> queues_;  // one FIFO per class, highest first
  Deadlines deadlines_;                    // every waiter, by deadline
  std::size_t size_ = 0;
};

}  // namespace tide::gateway
