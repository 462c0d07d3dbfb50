#pragma once
// An upstream replica as the proxy sees it, and the narrow interface through which the proxy
// asks the gateway's policies (routing, balancing, outlier detection) where to send a request
// and tells them how it went.
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace tide::gateway {

struct Endpoint {
  std::string pool;  // the pool it belongs to, for metrics
  std::string host;
  uint16_t port = 0;
  // "host:port" ("[v6]:port"), as the pool names it: the endpoint's identity in metrics, logs,
  // the Host header and the connection pool. Made once, when the replica joins its pool.
  std::string address;
};

// What the proxy knows of a request before it is sent (read from its JSON body and headers).
struct RequestTraits {
  std::string model;
  std::string prefix_text;  // the prompt or the rendered messages, for prefix-aware routing
  std::string session_key;  // session affinity (a header or the `user` field); empty: none
  std::string api_key_id;   // the caller's key fingerprint, never the key
  std::string user;         // the body's `user` field
  int64_t max_tokens = 0;   // max_tokens / max_completion_tokens; 0 when absent
  int priority = 0;
  bool stream = false;

  bool operator==(const RequestTraits&) const = default;
};

// How one attempt at one endpoint ended.
struct AttemptOutcome {
  enum class Kind {
    Success,       // a response the client got (2xx, or a 4xx that is the client's fault)
    Overloaded,    // 429 or 503 from the replica: try elsewhere, but the replica is not broken
    ServerError,   // 5xx
    ConnectError,  // could not connect, or the connection broke before the response began
    Timeout,       // no first byte, or no next byte, in time
  };
  Kind kind = Kind::Success;
  int status = 0;  // the HTTP status when one came
  std::chrono::duration<double> latency{0};  // to the response's end (or the failure)
  std::chrono::duration<double> time_to_first_byte{0};
};

// Counts as a failure for outlier detection.
inline bool is_failure(const AttemptOutcome& o) {
  return o.kind == AttemptOutcome::Kind::ServerError || o.kind == AttemptOutcome::Kind::ConnectError ||
         o.kind == AttemptOutcome::Kind::Timeout;
}

// Implemented by the gateway's routing layer; called from any io thread, so thread-safe.
class UpstreamSelector {
 public:
  virtual ~UpstreamSelector() = default;
  // The endpoint for the next attempt, never one in `tried` while others are eligible;
  // nullopt when no endpoint can take the request.
  virtual std::optional<Endpoint> pick(const RequestTraits& request, std::span<const std::string> tried) = 0;
  // An attempt begins (counted in flight) and ends.
  virtual void on_attempt_start(const Endpoint& endpoint) = 0;
  virtual void on_attempt_end(const Endpoint& endpoint, const AttemptOutcome& outcome) = 0;
  // Whether another attempt may be made (the retry budget); `attempts` made so far.
  virtual bool may_retry(int attempts) = 0;
};

}  // namespace tide::gateway
