#include "gateway/proxy/connection_pool.h"

#include "common/coarse_clock.h"

namespace tide::gateway {

ConnectionPool::ConnectionPool(std::size_t max_idle_per_endpoint, std::chrono::milliseconds idle_ttl)
    : max_idle_(max_idle_per_endpoint), ttl_(idle_ttl) {}

ConnectionPool::Key ConnectionPool::key(const http::LoopExecutor& executor, const std::string& address) {
  return {&executor.context(), address};
}

std::unique_ptr<ConnectionPool::Stream> ConnectionPool::take(const http::LoopExecutor& executor,
                                                             const std::string& address) {
  std::lock_guard lock(mutex_);
  auto it = idle_.find(key(executor, address));
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  const auto now = coarse_now();
  // Most recently used first: the likeliest to still be open.
  while (!list.empty()) {
    Idle entry = std::move(list.back());
    list.pop_back();
    if (now - entry.since < ttl_ && entry.stream->is_open()) return std::move(entry.stream);
  }
  return nullptr;
}

void ConnectionPool::give_back(const std::string& address, std::unique_ptr<Stream> stream) {
  if (!stream || !stream->is_open()) return;
  auto k = key(stream->get_executor(), address);
  std::lock_guard lock(mutex_);
  auto& list = idle_[std::move(k)];
  if (list.size() >= max_idle_) list.pop_front();  // the oldest goes
  list.push_back({std::move(stream), coarse_now()});
}

std::size_t ConnectionPool::idle() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [address, list] : idle_) n += list.size();
  return n;
}

}  // namespace tide::gateway
