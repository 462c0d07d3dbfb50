#pragma once
// Keep-alive connections to upstream replicas, reused across client requests: a request to a
// replica on loopback costs a connect (and the replica an accept) only when no idle connection
// is at hand. Bounded per endpoint; connections idle longer than the TTL are closed rather than
// reused, since the replica's own idle timeout may have closed them meanwhile.

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "common/http/loop_types.h"

namespace tide::gateway {

class ConnectionPool {
 public:
  // A plain socket: the forwarder keeps its own deadline per request (one timer wait), where a
  // beast::tcp_stream would start and cancel a timer wait around every read and write.
  using Stream = http::LoopSocket;

  ConnectionPool(std::size_t max_idle_per_endpoint, std::chrono::milliseconds idle_ttl);

  // An idle connection to `address` on the event loop of `executor`, or nullptr when there is
  // none fresh enough. Connections stay on the loop that opened them: a socket used from another
  // loop's thread would complete its operations on its own loop and hop back.
  std::unique_ptr<Stream> take(const http::LoopExecutor& executor, const std::string& address);
  // Returns a connection whose last response was read completely and that may be kept alive.
  void give_back(const std::string& address, std::unique_ptr<Stream> stream);

  std::size_t idle() const;

 private:
  struct Idle {
    std::unique_ptr<Stream> stream;
    std::chrono::steady_clock::time_point since;
  };
  const std::size_t max_idle_;
  const std::chrono::milliseconds ttl_;
  using Key = std::pair<const void*, std::string>;  // the loop's io_context, the address
  static Key key(const http::LoopExecutor& executor, const std::string& address);
  mutable std::mutex mutex_;
  std::map<Key, std::deque<Idle>> idle_;
};

}  // namespace tide::gateway
