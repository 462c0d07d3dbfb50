#include "common/http/session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>

#include <array>

#include "common/coarse_clock.h"
#include "common/http/wire.h"

namespace tide::http {
namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = 4096;
// While a request is handled the connection keeps reading, only to notice a client that goes
// away. A client that pipelines its next requests may get this far ahead before reading pauses.
constexpr std::size_t kMaxReadAhead = 64 * 1024;

}  // namespace

Session::Session(LoopSocket socket, Server::Loop& loop, std::shared_ptr<Server::Shared> shared)
    : socket_(std::move(socket)), loop_(loop), executor_(loop.io.get_executor()), timer_(executor_), shared_(std::move(shared)) {
  error_code ec;
  const auto endpoint = socket_.remote_endpoint(ec);
  remote_ = ec ? "unknown" : fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

Session::~Session() {
  std::lock_guard lock(shared_->mutex);
  --shared_->open;
  shared_->changed.notify_all();
}

void Session::start() {
  net::dispatch(executor_, [self = shared_from_this()] { self->wait_for_request(); });
}

void Session::server_stopping() {
  net::dispatch(executor_, [self = shared_from_this()] {
    if (self->phase_ == Phase::Idle) self->close();
  });
}

void Session::force_close() {
  net::dispatch(executor_, [self = shared_from_this()] { self->close(); });
}

void Session::wait_for_request() {
  if (phase_ == Phase::Closed) return;
  phase_ = Phase::Idle;
  if (shared_->stopping) return close();
  if (buffer_.size() > 0) return read_request();  // the client already sent its next request
  idle_ = true;
  arm_timer(shared_->options.idle_timeout);
  socket_.async_read_some(buffer_.prepare(kReadChunk), [self = shared_from_this()](error_code ec, std::size_t n) {
    if (ec || self->phase_ == Phase::Closed) return self->close();
    self->buffer_.commit(n);
    self->read_request();
  });
}

void Session::read_request() {
  phase_ = Phase::Reading;
  idle_ = false;
  arm_timer(shared_->options.read_timeout);
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(std::min<std::size_t>(shared_->options.max_header_bytes, UINT32_MAX)));
  parser_->body_limit(shared_->options.max_body_bytes);
  // Most requests arrive whole in the read that woke the loop: parsed here, they skip Beast's
  // read operations, each of which would go through the loop's queue once more.
  error_code ec;
  parse_buffered(ec);
  if (ec || parser_->is_done()) return on_request(ec);
  if (parser_->is_header_done()) return on_header({});
  bhttp::async_read_header(socket_, buffer_, *parser_,
                           [self = shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
}

void Session::parse_buffered(error_code& ec) {
  while (buffer_.size() > 0 && !parser_->is_done()) {
    const std::size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == bhttp::error::need_more) ec = {};
    if (ec || used == 0) return;
  }
}

void Session::on_header(error_code ec) {
  if (ec || phase_ == Phase::Closed) return on_request(ec);
  // curl and others wait (up to a second) for this before sending a large body.
  const auto expect = parser_->get()[Field::expect];
  if (!boost::beast::iequals(expect, "100-continue")) return read_body();
  static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  net::async_write(socket_, net::buffer(kContinue), [self = shared_from_this()](error_code ec, std::size_t) {
    if (ec) return self->close();
    self->read_body();
  });
}

void Session::read_body() {
  error_code ec;
  parse_buffered(ec);
  if (ec || parser_->is_done()) return on_request(ec);
  bhttp::async_read(socket_, buffer_, *parser_,
                    [self = shared_from_this()](error_code ec, std::size_t) { self->on_request(ec); });
}

void Session::on_request(error_code ec) {
  disarm_timer();
  if (phase_ == Phase::Closed) return;
  if (ec == bhttp::error::header_limit)
    return answer_error(Status::request_header_fields_too_large,
                        fmt::format("request headers exceed {} bytes", shared_->options.max_header_bytes));
  if (ec == bhttp::error::body_limit)
    return answer_error(Status::payload_too_large,
                        fmt::format("request body exceeds {} bytes", shared_->options.max_body_bytes));
  if (ec == bhttp::error::end_of_stream || ec == net::error::eof) return close();
  if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category())
    return answer_error(Status::bad_request, "malformed HTTP request: " + ec.message());
  if (ec) return close();  // reset, or closed by the read timeout
  dispatch_request();
}

void Session::dispatch_request() {
  phase_ = Phase::Handling;
  answer_ = Answer::None;
  ++exchange_id_;
  Request request = parser_->release();
  parser_.reset();
  keep_alive_ = request.keep_alive() && !shared_->stopping;
  auto exchange = std::make_shared<Exchange>(shared_from_this(), exchange_id_, std::move(request), remote_);
  try {
    shared_->handler(exchange);
  } catch (const std::exception& e) {
    spdlog::error("{} {}: handler failed: {}", remote_, std::string(exchange->request().target()), e.what());
    respond(exchange_id_, shared_->error_response(Status::internal_server_error, "internal error"));
  }
  // Still being answered (a stream started in the handler included): watch the client from the
  // next tick on.
  if (phase_ == Phase::Handling && answer_ != Answer::Done) loop_.watch_later(weak_from_this(), exchange_id_);
}

void Session::watch_peer(uint64_t id) {
  if (watching_ || !current(id) || buffer_.size() >= kMaxReadAhead) return;
  watching_ = true;
  // Watching costs a system call whichever way: a read started now fails with EAGAIN (the client
  // sends nothing while it waits for its answer), a wait for readability re-arms the socket in
  // epoll. So the watch starts only for a request still being handled a tick after it came
  // (Server::Loop::watch_later); most answers are written before then.
  socket_.async_wait(net::socket_base::wait_read, [self = shared_from_this()](error_code ec) {
    if (ec || self->resume_after_watch_ || self->phase_ != Phase::Handling) return self->on_watch(ec, 0);
    self->socket_.async_read_some(self->buffer_.prepare(kReadChunk),
                                  [self](error_code ec, std::size_t n) { self->on_watch(ec, n); });
  });
}

void Session::on_watch(error_code ec, std::size_t bytes) {
  watching_ = false;
  if (!ec) buffer_.commit(bytes);
  if (resume_after_watch_) {  // the exchange ended while this read was pending
    resume_after_watch_ = false;
    if (!ec || ec == net::error::operation_aborted) return wait_for_request();
    return close();
  }
  if (phase_ == Phase::Closed) return;
  if (!ec) return watch_peer(exchange_id_);
  // EOF or reset while the answer is being prepared: the client gave up. (A client that
  // half-closes its side after sending is indistinguishable here and is treated the same way.)
  close();
}

void Session::answer_error(Status status, const std::string& message) {
  phase_ = Phase::Handling;
  answer_ = Answer::Done;
  keep_alive_ = false;  // the rest of the request is unread: the connection cannot be reused
  spdlog::info("{}: {} {}", remote_, static_cast<int>(status), message);
  auto response = shared_->error_response(status, message);
  response.keep_alive(false);
  response.prepare_payload();
  wire_head(response, out_head_);
  out_body_ = std::move(response.body());
  write_response();
}

void Session::respond(uint64_t id, Response response) {
  if (!current(id) || answer_ != Answer::None) return;
  answer_ = Answer::Done;
  keep_alive_ = keep_alive_ && !shared_->stopping;
  response.keep_alive(keep_alive_);
  response.prepare_payload();
  wire_head(response, out_head_);
  out_body_ = std::move(response.body());
  write_response();
}

void Session::respond(uint64_t id, Status status, std::string header_lines, std::string body) {
  if (!current(id) || answer_ != Answer::None) return;
  answer_ = Answer::Done;
  keep_alive_ = keep_alive_ && !shared_->stopping;
  // What respond(Response) writes for a version 1.1 message after keep_alive() and
  // prepare_payload(), from lines already serialized.
  const auto reason = boost::beast::http::obsolete_reason(status);
  out_head_.clear();
  out_head_.append("HTTP/1.1 ").append(std::to_string(static_cast<unsigned>(status))).append(" ");
  out_head_.append(reason.data(), reason.size()).append("\r\n");
  out_head_.append(header_lines);
  if (!keep_alive_) out_head_.append("Connection: close\r\n");
  out_head_.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  out_head_.append("\r\n");
  out_body_ = std::move(body);
  write_response();
}

void Session::write_response() {
  arm_timer(shared_->options.write_timeout);
  const std::array<net::const_buffer, 2> buffers{net::buffer(out_head_), net::buffer(out_body_)};
  net::async_write(socket_, buffers, [self = shared_from_this()](error_code ec, std::size_t) {
    self->out_body_ = {};  // the body goes now, not with the next response
    self->disarm_timer();
    if (ec) return self->close();
    self->exchange_done();
  });
}

std::optional<std::string> Session::begin_stream(uint64_t id, Response head) {
  if (!current(id) || answer_ != Answer::None) return std::nullopt;
  answer_ = Answer::Streaming;
  keep_alive_ = keep_alive_ && !shared_->stopping;
  head.keep_alive(keep_alive_);
  head.chunked(true);
  return wire_head(head);
}

void Session::write_stream(uint64_t id, std::string bytes, std::function<void(bool)> done) {
  if (!current(id) || answer_ != Answer::Streaming) {
    net::post(executor_, [done = std::move(done)] { done(false); });
    return;
  }
  auto buffer = std::make_shared<std::string>(std::move(bytes));
  arm_timer(shared_->options.write_timeout);
  net::async_write(socket_, net::buffer(*buffer),
                   [self = shared_from_this(), buffer, done = std::move(done)](error_code ec, std::size_t) {
                     self->disarm_timer();
                     if (ec) self->close();
                     done(!ec);
                   });
}

void Session::end_stream(uint64_t id, std::string last_bytes) {
  if (!current(id) || answer_ != Answer::Streaming) return;
  answer_ = Answer::Done;
  auto buffer = std::make_shared<std::string>(std::move(last_bytes));
  arm_timer(shared_->options.write_timeout);
  net::async_write(socket_, net::buffer(*buffer), [self = shared_from_this(), buffer](error_code ec, std::size_t) {
    self->disarm_timer();
    if (ec) return self->close();
    self->exchange_done();
  });
}

void Session::abandon(uint64_t id) {
  if (!current(id)) return;
  if (answer_ == Answer::None) {
    spdlog::error("{}: a request was dropped without an answer", remote_);
    respond(id, shared_->error_response(Status::internal_server_error, "internal error: the request was dropped"));
  } else if (answer_ == Answer::Streaming) {
    close();  // a half-sent stream cannot be completed; closing tells the client it is cut short
  }
}

void Session::set_disconnect_callback(uint64_t id, std::function<void()> callback) {
  if (current(id)) {
    on_disconnect_ = std::move(callback);
  } else if (id == exchange_id_ && phase_ == Phase::Closed && answer_ != Answer::Done) {
    net::post(executor_, std::move(callback));
  }
}

void Session::exchange_done() {
  on_disconnect_ = nullptr;
  if (!keep_alive_ || shared_->stopping) return close();
  phase_ = Phase::Idle;
  if (watching_) {
    // The pending read must finish before the next request's read starts; cancel it (whatever
    // it already received stays in the buffer).
    resume_after_watch_ = true;
    error_code ignored;
    socket_.cancel(ignored);
    return;
  }
  wait_for_request();
}

// Every request arms the timer three times (idle, read, write) and disarms it twice; resetting
// a pending wait each time costs a cancelled handler apiece. So only the deadline moves: a wait
// is started (or restarted) only when the new deadline comes before the pending wait's, and a
// wait that fires early re-arms for what is left of the deadline. After a connection's first
// request the pending wait is almost always the earlier one, so requests reset no timer.
void Session::arm_timer(std::chrono::milliseconds timeout) {
  deadline_ = coarse_now() + timeout;
  if (timer_waiting_ && timer_.expiry() <= *deadline_) return;
  start_timer_wait();
}

void Session::start_timer_wait() {
  const uint64_t generation = ++timer_generation_;
  timer_waiting_ = true;
  timer_.expires_at(*deadline_);  // cancels the pending wait, if any
  timer_.async_wait([self = shared_from_this(), generation](error_code ec) {
    if (generation != self->timer_generation_) return;  // replaced by a later wait
    self->timer_waiting_ = false;
    if (ec || self->phase_ == Phase::Closed || !self->deadline_) return;
    if (Clock::now() < *self->deadline_) return self->start_timer_wait();
    self->close();
  });
}

void Session::disarm_timer() { deadline_.reset(); }

void Session::close() {
  if (phase_ == Phase::Closed) return;
  const bool unanswered = phase_ == Phase::Handling && answer_ != Answer::Done;
  phase_ = Phase::Closed;
  idle_ = false;
  disarm_timer();
  timer_.cancel();  // the pending wait holds this session
  error_code ignored;
  socket_.shutdown(net::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  if (unanswered && on_disconnect_) net::post(executor_, std::move(on_disconnect_));
  on_disconnect_ = nullptr;
}

}  // namespace tide::http
