#pragma once
// One request and the means to answer it. A handler may answer at once or later from any
// thread (after the engine produced something); every method is safe to call from any thread
// and the work runs on the connection's io thread, which is also where callbacks run. An Exchange
// must not outlive the Server it came from.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/http/loop_types.h"

namespace tide::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;
using Status = boost::beast::http::status;
using Field = boost::beast::http::field;
using Verb = boost::beast::http::verb;

class Session;
class SseWriter;

// Beast's string_view (boost's) as the standard one.
inline std::string_view view(boost::beast::string_view s) { return {s.data(), s.size()}; }

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<Session> session, uint64_t id, Request request, std::string remote);
  // An exchange dropped unanswered is answered 500, or, mid-stream, its connection is closed:
  // the client learns something went wrong instead of waiting for ever.
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  const Request& request() const { return request_; }
  // "address:port" of the client, for logs.
  const std::string& remote() const { return remote_; }
  // The connection's io thread: post work here to run in order with this exchange's callbacks.
  LoopExecutor executor() const;

  // Sends a complete response (Content-Length is set from the body). Only the first answer
  // counts; later calls are ignored.
  void respond(Response response);
  // The same for a response whose header lines are already serialized, as a proxy relays them:
  // each "Name: value\r\n", without Content-Length, Transfer-Encoding or Connection, which the
  // server adds with the status line.
  void respond(Status status, std::string header_lines, std::string body);
  // Starts a text/event-stream response with `head`'s status and headers (chunked transfer
  // encoding). The writer must then be driven on executor(); see SseWriter.
  std::shared_ptr<SseWriter> start_sse(Response head);
  // `callback` runs once on executor() if the client goes away (connection closed or reset, a
  // write failed or timed out) before the answer was complete, so the work behind it can be
  // cancelled. Runs at once (posted) when the client is already gone.
  void on_disconnect(std::function<void()> callback);

 private:
  friend class SseWriter;
  std::shared_ptr<Session> session_;
  uint64_t id_;  // which of the connection's exchanges this is
  Request request_;
  std::string remote_;
};

}  // namespace tide::http
