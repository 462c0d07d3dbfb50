#pragma once
// The writing side of a Server-Sent Events response, with backpressure: one write is in flight
// at a time, and the producer is told when it completed, so it produces the next chunk only when
// the client has taken the previous one. Events that arrive meanwhile wait with the producer
// (coalesced into the next write), never in an unbounded socket queue.
//
// Every method must be called on the exchange's executor (the connection's io thread, where the
// handler and the callbacks run).
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace tide::http {

class Exchange;

// One SSE event carrying `data` (each line of it becomes a `data:` field, as the format requires).
std::string sse_event(std::string_view data);

class SseWriter : public std::enable_shared_from_this<SseWriter> {
 public:
  using Done = std::function<void(bool ok)>;

  SseWriter(std::shared_ptr<Exchange> exchange, std::string head);

  // Writes `events` (one or more sse_event() strings) as one chunk. `done(true)` runs when the
  // client took it; `done(false)` when the client is gone or too slow (the producer should stop
  // and cancel its work). Writing while a write is in flight is a programming error and throws
  // std::logic_error.
  void write(std::string events, Done done);
  // Ends the response; the connection then serves its next request (keep-alive) or closes.
  // Waits for an in-flight write first.
  void end();

  bool writing() const { return writing_; }
  // The client is gone: further writes fail at once.
  bool failed() const { return failed_; }

 private:
  void finish();

  std::shared_ptr<Exchange> exchange_;  // kept alive until the response ended
  std::string head_;  // the status line and headers, sent with the first chunk
  bool writing_ = false;
  bool failed_ = false;
  bool end_pending_ = false;
  bool ended_ = false;
};

}  // namespace tide::http
