#include "gateway/admission_queue.h"

#include "common/error.h"

namespace tide::gateway {

AdmissionQueue::AdmissionQueue(AdmissionConfig config) : config_(std::move(config)) {
  if (config_.queues.empty()) fail("admission: no priority classes");
  queues_.resize(config_.queues.size());
  default_class_ = config_.queues.size() - 1;
  for (std::size_t i = 0; i < config_.queues.size(); ++i)
    if (config_.queues[i].priority == "default") default_class_ = i;
}

std::size_t AdmissionQueue::priority_of(std::string_view name) const {
  for (std::size_t i = 0; i < config_.queues.size(); ++i)
    if (!name.empty() && config_.queues[i].priority == name) return i;
  return default_class_;
}

Clock::time_point AdmissionQueue::deadline(std::size_t priority, Clock::time_point now) const {
  if (priority >= config_.queues.size()) priority = default_class_;
  return now + config_.queues[priority].timeout;
}

bool AdmissionQueue::enqueue(std::size_t priority, Clock::time_point deadline, Resume resume) {
  if (!resume) fail("admission queue: enqueue without a callback");
  std::lock_guard lock(mutex_);
  if (priority >= queues_.size()) return false;
  auto& queue = queues_[priority];
  if (queue.size() >= config_.queues[priority].max_size) return false;
  queue.push_back({std::move(resume), {}});
  const auto it = std::prev(queue.end());
  it->deadline = deadlines_.emplace(deadline, std::pair{priority, it});
  ++size_;
  return true;
}

bool AdmissionQueue::release_one() { return release(1) == 1; }

std::size_t AdmissionQueue::release(std::size_t n) {
  std::vector<Resume> resumed;
  {
    std::lock_guard lock(mutex_);
    for (auto& queue : queues_) {
      while (resumed.size() < n && !queue.empty()) {
        deadlines_.erase(queue.front().deadline);
        resumed.push_back(std::move(queue.front().resume));
        queue.pop_front();
      }
    }
    size_ -= resumed.size();
  }
  for (auto& r : resumed) r(true);
  return resumed.size();
}

std::size_t AdmissionQueue::expire(Clock::time_point now) {
  std::vector<Resume> expired;
  {
    std::lock_guard lock(mutex_);
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      const auto [priority, waiter] = deadlines_.begin()->second;
      expired.push_back(std::move(waiter->resume));
      queues_[priority].erase(waiter);
      deadlines_.erase(deadlines_.begin());
    }
    size_ -= expired.size();
  }
  for (auto& r : expired) r(false);
  return expired.size();
}

std::size_t AdmissionQueue::drain() {
  std::vector<Resume> dropped;
  {
    std::lock_guard lock(mutex_);
    for (auto& queue : queues_) {
      for (auto& w : queue) dropped.push_back(std::move(w.resume));
      queue.clear();
    }
    deadlines_.clear();
    size_ = 0;
  }
  for (auto& r : dropped) r(false);
  return dropped.size();
}

std::size_t AdmissionQueue::size() const {
  std::lock_guard lock(mutex_);
  return size_;
}

std::size_t AdmissionQueue::size(std::size_t priority) const {
  std::lock_guard lock(mutex_);
  return priority < queues_.size() ? queues_[priority].size() : 0;
}

std::optional<Clock::time_point> AdmissionQueue::next_deadline() const {
  std::lock_guard lock(mutex_);
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.begin()->first;
}

}  // namespace tide::gateway
