#pragma once
// The generation requests being answered right now, so a draining server can wait for them and,
// when the drain timeout runs out, cancel what is left.
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/request.h"

namespace tide::server {

class InFlight {
 public:
  using Streams = std::vector<std::shared_ptr<RequestStream>>;

  // Registers one API request's engine streams; returns its key for remove().
  uint64_t add(Streams streams);
  void remove(uint64_t key);
  int count() const;
  // Cancels every registered stream; the engine then finishes them with FinishReason::Cancelled.
  void cancel_all();

 private:
  mutable std::mutex mutex_;
  uint64_t next_key_ = 0;
  std::unordered_map<uint64_t, Streams> requests_;
};

}  // namespace tide::server
