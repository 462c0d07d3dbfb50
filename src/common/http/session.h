#pragma once
// One client connection (internal to the HTTP stack): reads requests one at a time, hands each
// to the handler as an Exchange, writes its answer, and enforces the limits and timeouts of
// ServerOptions. A connection lives on one io thread (its loop) for its whole life, so all of its
// state is touched on that thread alone, in order, without a strand.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/http/exchange.h"
#include "common/http/server.h"

namespace tide::http {

struct Server::Shared {
  ServerOptions options;
  Handler handler;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable changed;  // signalled when a session ends
  std::vector<std::weak_ptr<Session>> sessions;
  int open = 0;  // guarded by mutex

  Response error_response(Status status, const std::string& message) const;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `socket` belongs to the io_context of `loop`, the io thread that serves this connection.
  Session(LoopSocket socket, Server::Loop& loop, std::shared_ptr<Server::Shared> shared);
  ~Session();

  void start();
  // From the server, any thread: the server is stopping (close when idle) / stop now.
  void server_stopping();
  void force_close();
  // From the server, any thread: true (once) when the connection is idle between requests, and
  // then it no longer counts as idle; the server closes it to make room for a new one.
  bool claim_idle() { return idle_.exchange(false); }

  const LoopExecutor& executor() const { return executor_; }
  // From the loop's tick: starts watching the client, if exchange `id` is still being handled (a
  // streamed answer included); a later exchange has a tick of its own.
  void watch_peer(uint64_t id);

  // From Exchange and SseWriter, on the connection's loop. `id` names the exchange: calls for an exchange
  // that is over (the connection has moved on to its next request) are ignored.
  void respond(uint64_t id, Response response);
  void respond(uint64_t id, Status status, std::string header_lines, std::string body);
  // The serialized status line and headers for a chunked stream, or nullopt when the exchange
  // was already answered.
  std::optional<std::string> begin_stream(uint64_t id, Response head);
  void write_stream(uint64_t id, std::string bytes, std::function<void(bool ok)> done);
  void end_stream(uint64_t id, std::string last_bytes);
  void abandon(uint64_t id);  // the exchange was dropped without a complete answer
  void set_disconnect_callback(uint64_t id, std::function<void()> callback);

 private:
  enum class Phase { Idle, Reading, Handling, Closed };
  enum class Answer { None, Streaming, Done };

  void wait_for_request();
  void read_request();
  // Feeds the parser what buffer_ holds, as far as it goes; ec is a parse error (header or
  // body limit, malformed) and stays clear when the parser only needs more bytes.
  void parse_buffered(boost::system::error_code& ec);
  void on_header(boost::system::error_code ec);
  void read_body();
  void on_request(boost::system::error_code ec);
  void dispatch_request();
  void on_watch(boost::system::error_code ec, std::size_t bytes);
  void answer_error(Status status, const std::string& message);  // then close
  void write_response();  // out_head_ and out_body_
  void exchange_done();
  bool current(uint64_t id) const { return id == exchange_id_ && phase_ == Phase::Handling; }
  void arm_timer(std::chrono::milliseconds timeout);
  void start_timer_wait();
  void disarm_timer();
  void close();
  void peer_gone();

  LoopSocket socket_;
  Server::Loop& loop_;
  LoopExecutor executor_;
  LoopTimer timer_;
  std::shared_ptr<Server::Shared> shared_;
  std::string remote_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;

  Phase phase_ = Phase::Idle;
  std::atomic<bool> idle_{false};  // phase_ == Idle, readable from other threads
  Answer answer_ = Answer::None;
  uint64_t exchange_id_ = 0;  // the exchange being handled (Phase::Handling)
  bool keep_alive_ = false;
  bool watching_ = false;       // a wait (then a read) that only listens for the client going away is pending
  bool resume_after_watch_ = false;
  using Clock = LoopTimer::clock_type;
  std::optional<Clock::time_point> deadline_;  // when the connection is closed; none = no timeout now
  bool timer_waiting_ = false;                 // a wait is pending on timer_
  uint64_t timer_generation_ = 0;
  std::function<void()> on_disconnect_;
  // The complete response being written (one at a time), kept here so that the write needs
  // no allocation of its own; the head's string keeps its capacity from request to request.
  std::string out_head_;
  std::string out_body_;
};

}  // namespace tide::http
