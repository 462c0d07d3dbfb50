#include "gateway/proxy/forwarder.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <limits>

#include "common/coarse_clock.h"
#include "server/api_error.h"

namespace tide::gateway {
namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using Kind = AttemptOutcome::Kind;

namespace {

constexpr std::size_t kChunkBytes = 16 << 10;
// The timer wakes at least this often while an upstream operation is timed, to look at the
// deadline: a deadline moved later (the next chunk of a long stream) then never restarts a
// pending wait, so a request costs one timer wait however many reads and writes it makes.
constexpr std::chrono::seconds kTimerTick{1};

// Headers that describe one hop, never passed on (RFC 9110 §7.6.1), plus those the proxy sets.
bool hop_by_hop(bhttp::field f) {
  switch (f) {
    case bhttp::field::connection:
    case bhttp::field::keep_alive:
    case bhttp::field::proxy_authenticate:
    case bhttp::field::proxy_authorization:
    case bhttp::field::te:
    case bhttp::field::trailer:
    case bhttp::field::transfer_encoding:
    case bhttp::field::upgrade:
    case bhttp::field::content_length:
    case bhttp::field::cache_control:
    case bhttp::field::content_type:
      return true;
    default:
      return false;
  }
}

std::string stream_error_event(const std::string& message) {
  nlohmann::json error = {{"error", {{"message", message}, {"type", "server_error"}, {"code", "upstream_failed"}}}};
  return http::sse_event(error.dump());
}

}  // namespace

Forwarder::Forwarder(std::shared_ptr<http::Exchange> exchange, UpstreamRequest upstream, RequestTraits traits,
                     std::shared_ptr<UpstreamSelector> selector, ConnectionPool& pool,
                     const ForwardSettings& settings, std::string request_id, Done done, ForwardHooks hooks)
    : Forwarder(exchange->executor(), std::move(upstream), std::move(traits), std::move(selector), pool, settings,
                std::move(request_id), std::move(done)) {
  exchange_ = std::move(exchange);
  hooks_ = std::move(hooks);
}

Forwarder::Forwarder(http::LoopExecutor executor, UpstreamRequest upstream, RequestTraits traits,
                     std::shared_ptr<UpstreamSelector> selector, ConnectionPool& pool,
                     const ForwardSettings& settings, std::string request_id, Done done)
    : executor_(std::move(executor)),
      upstream_(std::move(upstream)),
      traits_(std::move(traits)),
      selector_holder_(std::move(selector)),
      selector_(*selector_holder_),
      pool_(pool),
      settings_(settings),
      request_id_(std::move(request_id)),
      done_(std::move(done)),
      timer_(executor_) {}

void Forwarder::start() {
  started_ = std::chrono::steady_clock::now();
  if (exchange_)
    exchange_->on_disconnect([weak = weak_from_this()] {
      if (auto self = weak.lock()) self->client_gone();
    });
  net::dispatch(executor_, [self = shared_from_this()] { self->next_attempt(); });
}

void Forwarder::next_attempt() {
  if (finished_) return;
  auto picked = selector_.pick(traits_, tried_);
  if (!picked) {
    if (tried_.empty())
      answer_error(503, "no replica is available to serve this request; retry shortly", "no_healthy_upstream", 1);
    else
      answer_error(502, "every replica tried failed to answer this request", "upstream_failed", 1);
    return;
  }
  endpoint_ = std::move(*picked);
  tried_.push_back(endpoint_->address);
  result_.attempts++;
  selector_.on_attempt_start(*endpoint_);
  attempt_open_ = true;
  // A first attempt starts with the request (a clock read fewer on the common path).
  attempt_started_ = result_.attempts == 1 ? started_ : std::chrono::steady_clock::now();
  stream_ = pool_.take(executor_, endpoint_->address);
  reused_ = stream_ != nullptr;
  if (stream_)
    send();
  else
    connect();
}

void Forwarder::connect() {
  error_code ec;
  const auto address = net::ip::make_address(endpoint_->host, ec);
  if (ec) {
    // Discovery hands over addresses; a name here is a configuration error of that replica.
    attempt_failed(Kind::ConnectError, 0, "not an IP address: " + endpoint_->host);
    return;
  }
  stream_ = std::make_unique<ConnectionPool::Stream>(executor_);
  arm_timer(settings_.timeouts.connect);
  stream_->async_connect(net::ip::tcp::endpoint(address, endpoint_->port),
                         [self = shared_from_this()](error_code ec) {
                           if (self->finished_) return;
                           if (ec) return self->attempt_failed(self->failure_kind(ec), 0, "connect: " + ec.message());
                           self->stream_->set_option(net::ip::tcp::no_delay(true), ec);
                           self->send();
                         });
}

void Forwarder::send() {
  host_line_ = "Host: " + endpoint_->address + "\r\n";
  arm_timer(settings_.timeouts.connect + settings_.timeouts.first_byte);
  const std::array<net::const_buffer, 4> buffers{net::buffer(upstream_.start_line), net::buffer(host_line_),
                                                 net::buffer(upstream_.fields), net::buffer(upstream_.body)};
  net::async_write(*stream_, buffers,
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       if (self->finished_) return;
                       if (ec) return self->attempt_failed(self->failure_kind(ec), 0, "send: " + ec.message());
                       self->read_head();
                     });
}

void Forwarder::read_head() {
  parser_.emplace();
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());  // bounded by max_response_bytes instead
  buffer_.clear();
  arm_timer(settings_.timeouts.first_byte);
  read_head_some();
}

// Reads straight from the socket and parses in the handler: Beast's read_header would wrap the
// same read in two more layers of operation, each holding the loop's work count.
void Forwarder::read_head_some() {
  stream_->async_read_some(buffer_.prepare(kChunkBytes), [self = shared_from_this()](error_code ec, std::size_t n) {
    if (self->finished_) return;
    if (ec) return self->attempt_failed(self->failure_kind(ec), 0, "response head: " + ec.message());
    self->buffer_.commit(n);
    const std::size_t used = self->parser_->put(self->buffer_.data(), ec);
    self->buffer_.consume(used);
    if (ec == bhttp::error::need_more) return self->read_head_some();
    if (ec) return self->attempt_failed(Kind::ConnectError, 0, "response head: " + ec.message());
    if (!self->parser_->is_header_done()) return self->read_head_some();
    self->on_head();
  });
}

void Forwarder::on_head() {
  first_byte_ = std::chrono::steady_clock::now();
  reused_ = false;
  const int status = parser_->get().result_int();
  if (status == 429 || status == 503) return attempt_failed(Kind::Overloaded, status, "replica overloaded");
  if (status >= 500) return attempt_failed(Kind::ServerError, status, "replica error");
  const auto type = parser_->get()[bhttp::field::content_type];
  if (exchange_ && type.starts_with("text/event-stream")) {
    start_stream();  // chunk by chunk: each event is relayed as soon as its chunk is parsed
  } else {
    // A whole answer: each parse fills the body buffer as far as the bytes go, chunk after
    // chunk, so read_body_some's in-line path takes one turn per buffer, not one (nested) per
    // chunk.
    parser_->eager(true);
    read_whole();
  }
}

AttemptOutcome::Kind Forwarder::failure_kind(const error_code& ec) const {
  return timed_out_ ? Kind::Timeout : Kind::ConnectError;
}

// As the client connection's timer (http::Session): the deadline moves with every operation,
// and the one pending wait follows it lazily.
void Forwarder::arm_timer(std::chrono::milliseconds timeout) {
  deadline_ = coarse_now() + timeout;
  timed_out_ = false;
  if (timer_waiting_ && timer_.expiry() <= *deadline_) return;
  start_timer_wait();
}

void Forwarder::start_timer_wait() {
  const uint64_t generation = ++timer_generation_;
  timer_waiting_ = true;
  timer_.expires_at(std::min(*deadline_, Clock::now() + kTimerTick));  // cancels the pending wait, if any
  // Holds the forwarder weakly: a finished request goes at once, its wait cancelled with it.
  timer_.async_wait([weak = weak_from_this(), generation](error_code ec) {
    auto self = weak.lock();
    if (!self || generation != self->timer_generation_) return;  // gone, or replaced by a later wait
    self->timer_waiting_ = false;
    if (ec || self->finished_ || !self->deadline_) return;
    if (Clock::now() < *self->deadline_) return self->start_timer_wait();
    // Closing fails the pending operation; its handler sees timed_out_ and reports a timeout.
    self->timed_out_ = true;
    self->deadline_.reset();
    if (self->stream_) {
      error_code ignored;
      self->stream_->close(ignored);
    }
  });
}

void Forwarder::attempt_failed(Kind kind, int status, const std::string& why) {
  // A kept-alive connection the replica closed meanwhile fails at once: that says nothing of
  // the replica, and the request never reached it, so go again on a fresh connection.
  if (reused_ && kind == Kind::ConnectError) {
    reused_ = false;
    stream_.reset();
    connect();
    return;
  }
  spdlog::debug("{} attempt {} at {} failed: {}", request_id_, result_.attempts, endpoint_->address, why);
  end_attempt(kind, status);
  release_connection(false);
  if (selector_.may_retry(result_.attempts)) {
    next_attempt();
    return;
  }
  if (kind == Kind::Overloaded)
    answer_error(429, "every replica is busy; retry shortly", "upstream_overloaded", 1);
  else if (kind == Kind::Timeout)
    answer_error(504, "the replica did not answer in time (" + why + ")", "upstream_timeout");
  else
    answer_error(502, "the replica failed to answer (" + why + ")", "upstream_failed", 1);
}

void Forwarder::end_attempt(Kind kind, int status, TimePoint now) {
  if (!attempt_open_) return;
  attempt_open_ = false;
  AttemptOutcome outcome;
  outcome.kind = kind;
  outcome.status = status;
  outcome.latency = now - attempt_started_;
  outcome.time_to_first_byte = (first_byte_ > attempt_started_ ? first_byte_ : now) - attempt_started_;
  selector_.on_attempt_end(*endpoint_, outcome);
}

void Forwarder::release_connection(bool reusable) {
  disarm_timer();
  if (!stream_) return;
  if (reusable && parser_ && parser_->is_done() && parser_->keep_alive())
    pool_.give_back(endpoint_->address, std::move(stream_));
  else {
    error_code ignored;
    stream_->shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    stream_->close(ignored);
  }
  stream_.reset();
}

template <class Then>
void Forwarder::read_body_some(char* into, std::size_t size, Then then) {
  auto& body = parser_->get().body();
  body.data = into;
  body.size = size;
  // What the head's read brought along (most small answers whole) is parsed here: Beast's read
  // would complete at once too, but through the loop's queue.
  if (buffer_.size() > 0 || parser_->is_done()) {
    error_code ec;
    std::size_t used = 0;
    if (!parser_->is_done()) {
      used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
    }
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec != bhttp::error::need_more && (ec || used > 0 || parser_->is_done()))
      return then(!ec, size - body.size);
  }
  bhttp::async_read_some(*stream_, buffer_, *parser_,
                         [self = shared_from_this(), size, then = std::move(then)](error_code ec, std::size_t) mutable {
                           if (self->finished_) return;
                           if (ec == bhttp::error::need_buffer) ec = {};
                           const std::size_t bytes = size - self->parser_->get().body().size;
                           then(!ec, bytes);
                         });
}

void Forwarder::read_whole() {
  arm_timer(settings_.timeouts.idle);
  // Straight into body_, a chunk at a time (what is left of the declared length, when smaller):
  // a small answer is one read and no copy.
  const std::size_t used = body_.size();
  const auto remaining = parser_->content_length_remaining();
  const std::size_t room = remaining ? std::clamp<std::size_t>(*remaining, 1, kChunkBytes) : kChunkBytes;
  body_.resize(used + room);
  read_body_some(body_.data() + used, room, [this, used](bool ok, std::size_t bytes) {
    body_.resize(used + bytes);
    if (!ok) {
      // Nothing reached the client yet: as good as no answer.
      return attempt_failed(Kind::ConnectError, 0, "the replica closed the connection mid-response");
    }
    if (body_.size() > settings_.max_response_bytes)
      return attempt_failed(Kind::ServerError, 0, "response larger than the proxy's limit");
    if (!parser_->is_done()) return read_whole();

    const auto& head = parser_->get();
    result_.status = head.result_int();
    result_.endpoint = endpoint_->address;
    result_.pool = endpoint_->pool;
    std::string lines;
    std::string body;
    if (exchange_) {
      // The head relayed as text, without rebuilding it as a message field by field.
      lines.reserve(256);
      auto line = [&lines](std::string_view name, std::string_view value) {
        lines.append(name).append(": ").append(value).append("\r\n");
      };
      for (const auto& field : head)  // as they came, repeated fields too
        if (!hop_by_hop(field.name()) && !boost::beast::iequals(field.name_string(), "x-request-id"))
          line(http::view(field.name_string()), http::view(field.value()));
      if (const auto type = head[bhttp::field::content_type]; !type.empty()) line("Content-Type", http::view(type));
      line("x-request-id", request_id_);
      if (hooks_.keep_body)
        body = body_;
      else
        body = std::move(body_);
    }
    if (!exchange_ || hooks_.keep_body) result_.body = std::move(body_);
    const auto now = std::chrono::steady_clock::now();  // the attempt's end and the request's alike
    end_attempt(Kind::Success, result_.status, now);
    release_connection(true);
    if (exchange_) exchange_->respond(static_cast<http::Status>(result_.status), std::move(lines), std::move(body));
    finish(now);
  });
}

void Forwarder::start_stream() {
  const auto& head = parser_->get();
  http::Response response{head.result(), 11};
  for (const auto& field : head)
    if (!hop_by_hop(field.name())) response.insert(field.name(), field.name_string(), field.value());
  response.set("x-request-id", request_id_);
  result_.status = head.result_int();
  result_.endpoint = endpoint_->address;
  result_.pool = endpoint_->pool;
  result_.streamed = true;
  chunk_ = std::make_unique_for_overwrite<char[]>(kChunkBytes);
  writer_ = exchange_->start_sse(std::move(response));
  relay_next();
}

void Forwarder::relay_next() {
  if (parser_->is_done()) {
    const auto now = std::chrono::steady_clock::now();
    end_attempt(Kind::Success, result_.status, now);
    release_connection(true);
    writer_->end();
    return finish(now);
  }
  arm_timer(settings_.timeouts.idle);
  read_body_some(chunk_.get(), kChunkBytes, [this, self = shared_from_this()](bool ok, std::size_t bytes) {
    // The replica's idle timeout does not run while the client takes its time with a chunk
    // (the client's own write timeout does).
    disarm_timer();
    if (!ok) {
      // The stream began: the client cannot be moved elsewhere. End it cleanly with an error
      // event, so no client hangs on a replica that died.
      result_.broken_stream = true;
      end_attempt(Kind::ConnectError, result_.status);
      release_connection(false);
      writer_->write(stream_error_event("the replica serving this stream failed; the response is incomplete"),
                     [this, self](bool) {
                       writer_->end();
                       finish();
                     });
      return;
    }
    if (bytes == 0) return relay_next();  // framing only (a chunk header): read on
    result_.events++;
    if (hooks_.capture_stream && result_.body.size() + bytes <= settings_.max_response_bytes)
      result_.body.append(chunk_.get(), bytes);
    writer_->write(std::string(chunk_.get(), bytes), [this, self](bool client_took_it) {
      if (finished_) return;
      if (!client_took_it) return client_gone();
      relay_next();
    });
  });
}

void Forwarder::answer_error(int status, const std::string& message, const std::string& code, int retry_after_s) {
  if (!exchange_) {  // a shadow copy: nobody to answer
    result_.status = status;
    return finish();
  }
  if (hooks_.degrade && status >= 502)
    if (auto degraded = hooks_.degrade()) {
      degraded->set("x-request-id", request_id_);
      result_.status = degraded->result_int();
      result_.degraded = true;
      exchange_->respond(std::move(*degraded));
      return finish();
    }
  server::ApiError error(status, message, {}, code);
  http::Response response{static_cast<http::Status>(status), 11};
  response.set(bhttp::field::content_type, "application/json");
  response.set("x-request-id", request_id_);
  if (retry_after_s > 0) response.set(bhttp::field::retry_after, std::to_string(retry_after_s));
  response.body() = server::error_body(error);
  result_.status = status;
  exchange_->respond(std::move(response));
  finish();
}

void Forwarder::client_gone() {
  if (finished_) return;
  result_.client_gone = true;
  result_.status = 0;
  // Neither the replica's fault nor a success: the attempt is closed as the client's doing.
  end_attempt(Kind::Success, 499);
  release_connection(false);  // the replica sees the disconnect and cancels the generation
  if (writer_) writer_->end();
  finish();
}

void Forwarder::finish(TimePoint now) {
  if (finished_) return;
  finished_ = true;
  result_.duration = now - started_;
  if (done_) done_(result_);
}

}  // namespace tide::gateway
