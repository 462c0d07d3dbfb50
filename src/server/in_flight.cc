#include "server/in_flight.h"

namespace tide::server {

uint64_t InFlight::add(Streams streams) {
  std::lock_guard lock(mutex_);
  const uint64_t key = next_key_++;
  requests_.emplace(key, std::move(streams));
  return key;
}

void InFlight::remove(uint64_t key) {
  std::lock_guard lock(mutex_);
  requests_.erase(key);
}

int InFlight::count() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(requests_.size());
}

void InFlight::cancel_all() {
  std::lock_guard lock(mutex_);
  for (auto& [key, streams] : requests_)
    for (auto& stream : streams) stream->cancel();
}

}  // namespace tide::server
