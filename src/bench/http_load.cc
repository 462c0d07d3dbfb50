#include "bench/http_load.h"

#include <fmt/format.h>
#include <sys/prctl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>

#include "common/error.h"

namespace tide::bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using net::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxResponseBytes = 1 << 20;

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Serialized once: every request is the same bytes, so the generator spends nothing building them.
std::string request_bytes(const HttpLoadConfig& c) {
  std::string out = fmt::format("{} {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: tide-bench-http\r\n", c.method, c.path,
                                c.host, c.port);
  if (!c.body.empty() || c.method == "POST")
    out += fmt::format("Content-Type: {}\r\nContent-Length: {}\r\n", c.content_type, c.body.size());
  out += "\r\n";
  out += c.body;
  return out;
}

class LoadRun {
 public:
  LoadRun(const HttpLoadConfig& config, Counters& counters)
      : c_(config), counters_(counters), request_(request_bytes(config)), timer_(io_), guard_(io_) {
    warmup_ = static_cast<int64_t>(std::floor(c_.warmup_s * c_.rate));
    int64_t measured = static_cast<int64_t>(std::floor(c_.duration_s * c_.rate));
    if (c_.max_requests > 0) measured = std::min(measured, c_.max_requests);
    total_ = warmup_ + std::max<int64_t>(measured, 1);
    result_.scheduled = total_ - warmup_;
    result_.latency_us.reserve(static_cast<std::size_t>(result_.scheduled));
    result_.service_us.reserve(static_cast<std::size_t>(result_.scheduled));
  }

  HttpLoadResult run() {
    error_code ec;
    address_ = tcp::endpoint(net::ip::make_address(c_.host, ec), c_.port);
    if (ec) fail("bench http: '{}' is not an IP address", c_.host);
    for (int i = 0; i < c_.connections; ++i) {
      auto conn = std::make_unique<Connection>(io_);
      conn->stream.connect(address_, ec);
      if (ec) fail("bench http: cannot connect to {}:{}: {}", c_.host, c_.port, ec.message());
      conn->stream.socket().set_option(tcp::no_delay(true), ec);
      idle_.push_back(conn.get());
      connections_.push_back(std::move(conn));
    }
    // Timer slack (50 µs by default) would delay every wake-up; the schedule wants the least.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    start_ = Clock::now() + std::chrono::milliseconds(10);
    // A server that stops answering cannot hold the run past its schedule and one timeout.
    guard_.expires_at(due(total_) + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(c_.timeout_s + 1)));
    guard_.async_wait([this](error_code ec) {
      if (!ec) stop();
    });
    arm(start_);
    io_.run();
    const auto first_due = due(warmup_);
    result_.duration_s = last_answer_ > first_due ? std::chrono::duration<double>(last_answer_ - first_due).count() : 0;
    return std::move(result_);
  }

 private:
  struct Connection {
    explicit Connection(net::io_context& io) : stream(io), retry(io) {}
    beast::tcp_stream stream;
    net::steady_timer retry;
    beast::flat_buffer buffer;
    std::optional<bhttp::response_parser<bhttp::string_body>> parser;
    int64_t index = -1;
    Clock::time_point sent_at;
  };

  Clock::time_point due(int64_t i) const {
    return start_ + std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(i) * 1e9 / c_.rate));
  }
  bool measured(int64_t i) const { return i >= warmup_; }

  void arm(Clock::time_point at) {
    armed_ = true;
    timer_.expires_at(at);
    timer_.async_wait([this](error_code ec) {
      armed_ = false;
      if (!ec) pump();
    });
  }

  // Sends every request now due on idle connections; what cannot go yet waits for a
  // connection to come free (which calls this again).
  void pump() {
    if (stopped_) return;
    const auto now = Clock::now();
    while (next_ < total_ && due(next_) <= now && !idle_.empty()) {
      Connection* conn = idle_.back();
      idle_.pop_back();
      send(*conn, next_++);
    }
    if (next_ >= total_) {
      if (in_flight_ == 0) stop();
      return;
    }
    if (due(next_) <= now) {
      const auto waiting = static_cast<int64_t>(std::floor(std::chrono::duration<double>(now - start_).count() * c_.rate)) + 1 - next_;
      result_.max_waiting = std::max(result_.max_waiting, waiting);
      return;
    }
    if (!armed_) arm(due(next_));
  }

  void send(Connection& conn, int64_t index) {
    conn.index = index;
    conn.sent_at = Clock::now();
    ++in_flight_;
    if (measured(index)) {
      ++in_flight_measured_;
      ++result_.sent;
      counters_.sent++;
      counters_.in_flight++;
    }
    conn.stream.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c_.timeout_s)));
    net::async_write(conn.stream, net::buffer(request_), [this, &conn](error_code ec, std::size_t) {
      if (ec) return done(conn, ec == beast::error::timeout ? "timeout" : "io", false);
      conn.parser.emplace();
      conn.parser->body_limit(kMaxResponseBytes);
      bhttp::async_read(conn.stream, conn.buffer, *conn.parser, [this, &conn](error_code ec, std::size_t) {
        if (ec) return done(conn, ec == beast::error::timeout ? "timeout" : "io", false);
        const int status = conn.parser->get().result_int();
        const bool keep = conn.parser->keep_alive();
        done(conn, status / 100 == 2 ? std::string() : fmt::format("http_{}", status), keep);
      });
    });
  }

  void done(Connection& conn, std::string error, bool reusable) {
    if (stopped_) error = "timeout";  // cut off by the guard
    const auto now = Clock::now();
    const int64_t index = conn.index;
    conn.index = -1;
    --in_flight_;
    if (measured(index)) {
      --in_flight_measured_;
      counters_.in_flight--;
      last_answer_ = now;
      if (error.empty()) {
        ++result_.ok;
        counters_.completed++;
        result_.latency_us.push_back(micros(now - due(index)));
        result_.service_us.push_back(micros(now - conn.sent_at));
      } else {
        ++result_.failed;
        counters_.failed++;
        ++result_.errors[error];
      }
    }
    if (reusable) {
      conn.stream.expires_never();
      idle_.push_back(&conn);
    } else {
      reconnect(conn);
    }
    pump();
  }

  void reconnect(Connection& conn) {
    if (stopped_) return;
    conn.stream.close();
    conn.buffer.clear();
    conn.stream.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c_.timeout_s)));
    conn.stream.async_connect(address_, [this, &conn](error_code ec) {
      if (stopped_) return;
      if (!ec) {
        conn.stream.socket().set_option(tcp::no_delay(true), ec);
        conn.stream.expires_never();
        idle_.push_back(&conn);
        return pump();
      }
      ++result_.connect_errors;
      conn.retry.expires_after(std::chrono::milliseconds(100));
      conn.retry.async_wait([this, &conn](error_code ec) {
        if (!ec) reconnect(conn);
      });
    });
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    timer_.cancel();
    guard_.cancel();
    for (auto& conn : connections_) {
      conn->retry.cancel();
      conn->stream.close();
    }
  }

  const HttpLoadConfig& c_;
  Counters& counters_;
  const std::string request_;
  net::io_context io_{1};
  net::steady_timer timer_;
  net::steady_timer guard_;
  tcp::endpoint address_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> idle_;
  Clock::time_point start_;
  Clock::time_point last_answer_;
  int64_t warmup_ = 0, total_ = 0, next_ = 0;
  int64_t in_flight_ = 0, in_flight_measured_ = 0;
  bool armed_ = false, stopped_ = false;
  HttpLoadResult result_;
};

}  // namespace

HttpLoadResult run_http_load(const HttpLoadConfig& config, Counters& counters) {
  if (!(config.rate > 0) || std::isinf(config.rate)) fail("bench http: the rate must be a positive number");
  if (config.connections < 1) fail("bench http: at least one connection is needed");
  LoadRun run(config, counters);
  return run.run();
}

}  // namespace tide::bench
