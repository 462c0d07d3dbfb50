#pragma once
// Forwards one client request to the replicas and the answer back, as one state machine on the
// client connection's io thread:
//
//   pick a replica → reuse an idle connection or connect → send → wait for the response head
//     ├─ 429/503/5xx, connect failure or timeout, and nothing sent to the client yet:
//     │    report it, pick another replica (within the retry budget), go again
//     ├─ an event stream: relay it chunk by chunk, reading the next upstream chunk only when the
//     │    client took the last (backpressure end to end); a replica that breaks mid-stream
//     │    ends the client's stream with an error event, never a hang
//     └─ anything else: read it whole and answer it
//
// A client that goes away closes the upstream connection, which the replica sees as a
// disconnect and cancels the generation (freeing its KV blocks).
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/http/exchange.h"
#include "common/http/sse_writer.h"
#include "gateway/proxy/connection_pool.h"
#include "gateway/proxy/endpoint.h"

namespace tide::gateway {

struct ProxyTimeouts {
  std::chrono::milliseconds connect{2'000};
  std::chrono::milliseconds first_byte{120'000};  // to the response head: queueing plus prefill
  std::chrono::milliseconds idle{60'000};         // between two chunks of a response
};

struct ForwardSettings {
  ProxyTimeouts timeouts;
  std::size_t max_response_bytes = std::size_t{64} << 20;
};

// Optional behaviour of one forward.
struct ForwardHooks {
  // Called instead of answering a gateway error (502/503/504); an answer it returns is sent.
  std::function<std::optional<http::Response>()> degrade;
  // Keep a streamed answer's bytes in ForwardResult::body (up to max_response_bytes), for a
  // comparison with a mirrored copy.
  bool capture_stream = false;
  // Keep a whole (non-streamed) answer's body in ForwardResult::body too, for usage accounting,
  // the response cache or a mirror comparison; without it the body is moved to the client.
  bool keep_body = true;
};

// A request as it goes to every replica tried, serialized once: the start line, then each
// attempt's Host line, then the other header lines (ending with the blank line), then the body.
struct UpstreamRequest {
  std::string start_line;  // "POST /v1/completions HTTP/1.1\r\n"
  std::string fields;
  std::string body;
};

// What a finished request reports (for the access log and metrics).
struct ForwardResult {
  int status = 0;  // as the client saw it; 0 when the client left first
  int attempts = 0;
  std::string endpoint;  // the replica that answered, or empty
  std::string pool;      // its pool
  bool streamed = false;
  bool client_gone = false;
  bool broken_stream = false;  // a started stream ended with an error event
  bool degraded = false;       // answered by ForwardHooks::degrade
  std::chrono::duration<double> duration{0};
  std::string body;         // a non-streamed answer's body (for usage accounting and the response cache)
  std::size_t events = 0;   // a streamed answer's chunks relayed
};

class Forwarder : public std::enable_shared_from_this<Forwarder> {
 public:
  using Done = std::function<void(const ForwardResult&)>;

  // `upstream` is the request as it goes to every replica tried (its Host is added per attempt).
  // `pool` must outlive the forwarder.
  Forwarder(std::shared_ptr<http::Exchange> exchange, UpstreamRequest upstream, RequestTraits traits,
            std::shared_ptr<UpstreamSelector> selector, ConnectionPool& pool, const ForwardSettings& settings,
            std::string request_id, Done done, ForwardHooks hooks = {});

  // A shadow copy (mirroring): the same forwarding with nobody to answer; every answer, an
  // event stream too, is read whole into ForwardResult::body.
  Forwarder(http::LoopExecutor executor, UpstreamRequest upstream, RequestTraits traits,
            std::shared_ptr<UpstreamSelector> selector, ConnectionPool& pool, const ForwardSettings& settings,
            std::string request_id, Done done);

  void start();

 private:
  using Parser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;

  void next_attempt();
  void connect();
  void send();
  void read_head();
  void read_head_some();
  void on_head();
  void read_whole();
  void start_stream();
  void relay_next();
  // The attempt failed before anything reached the client: retry elsewhere or answer an error.
  void attempt_failed(AttemptOutcome::Kind kind, int status, const std::string& why);
  // Reads some of the body into `into` (up to `size` bytes); `then(ok, bytes)` with the bytes read.
  template <class Then>
  void read_body_some(char* into, std::size_t size, Then then);
  using TimePoint = std::chrono::steady_clock::time_point;
  void end_attempt(AttemptOutcome::Kind kind, int status, TimePoint now = std::chrono::steady_clock::now());
  void release_connection(bool reusable);
  void answer_error(int status, const std::string& message, const std::string& code, int retry_after_s = 0);
  void finish(TimePoint now = std::chrono::steady_clock::now());
  void client_gone();
  AttemptOutcome::Kind failure_kind(const boost::system::error_code& ec) const;
  // The deadline of the upstream operation now pending (connect, send, response head, next
  // chunk): past it, the connection is closed and the operation fails as a timeout.
  void arm_timer(std::chrono::milliseconds timeout);
  void start_timer_wait();
  void disarm_timer() { deadline_.reset(); }

  std::shared_ptr<http::Exchange> exchange_;  // null for a shadow copy
  http::LoopExecutor executor_;               // the client connection's io thread (its loop)
  UpstreamRequest upstream_;
  std::string host_line_;  // the current attempt's "Host: address\r\n"
  RequestTraits traits_;
  std::shared_ptr<UpstreamSelector> selector_holder_;
  UpstreamSelector& selector_;
  ConnectionPool& pool_;
  const ForwardSettings settings_;  // a copy: each request may carry its pool's timeouts
  std::string request_id_;
  Done done_;
  ForwardHooks hooks_;

  std::vector<std::string> tried_;
  std::optional<Endpoint> endpoint_;
  bool attempt_open_ = false;
  std::unique_ptr<ConnectionPool::Stream> stream_;
  bool reused_ = false;  // stream_ came from the pool: a failure before any response byte is retried fresh
  boost::beast::flat_buffer buffer_;
  std::optional<Parser> parser_;
  std::unique_ptr<char[]> chunk_;  // a stream's relay buffer, kChunkBytes, not zeroed: every byte read is written first
  std::string body_;  // a whole answer, read straight into it
  std::shared_ptr<http::SseWriter> writer_;
  TimePoint started_, attempt_started_, first_byte_;
  ForwardResult result_;
  bool finished_ = false;

  using Clock = http::LoopTimer::clock_type;
  http::LoopTimer timer_;
  std::optional<Clock::time_point> deadline_;  // none: no upstream operation is timed now
  bool timer_waiting_ = false;
  uint64_t timer_generation_ = 0;
  bool timed_out_ = false;  // the deadline passed and closed the connection
};

}  // namespace tide::gateway
