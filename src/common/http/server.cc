#include "common/http/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>

#include "common/error.h"
#include "common/http/session.h"

namespace tide::http {
namespace net = boost::asio;
using boost::system::error_code;
using net::ip::tcp;

Response Server::Shared::error_response(Status status, const std::string& message) const {
  if (options.error_response) return options.error_response(status, message);
  Response response{status, 11};
  response.set(Field::content_type, "text/plain; charset=utf-8");
  response.body() = message + "\n";
  return response;
}

namespace {

// How long a request is handled before its client is watched (10-15 ms, with the tick gap). A
// proxied answer mostly comes far sooner; a client that leaves a long generation is noticed
// that much later.
constexpr std::chrono::milliseconds kWatchDelay{10};
constexpr std::chrono::milliseconds kTickGap{5};

}  // namespace

void Server::Loop::watch_later(std::weak_ptr<Session> session, uint64_t exchange) {
  to_watch_.push_back({std::chrono::steady_clock::now() + kWatchDelay, std::move(session), exchange});
  if (!tick_pending_) start_tick();
}

// One tick pending at a time, for the oldest entry but at most one per kTickGap: under load most
// requests are answered before their tick, so few sessions are ever watched (each watch costs
// a system call), and the ticks themselves stay few.
void Server::Loop::start_tick() {
  tick_pending_ = true;
  watch_tick_.expires_at(std::max(to_watch_.front().due, std::chrono::steady_clock::now() + kTickGap));
  watch_tick_.async_wait([this](error_code ec) {
    tick_pending_ = false;
    if (ec) return;
    const auto now = std::chrono::steady_clock::now();
    while (!to_watch_.empty() && to_watch_.front().due <= now) {
      const auto exchange = to_watch_.front().exchange;
      auto session = to_watch_.front().session.lock();
      to_watch_.pop_front();
      if (session) session->watch_peer(exchange);
    }
    if (!to_watch_.empty()) start_tick();
  });
}

namespace {

std::vector<std::unique_ptr<Server::Loop>> make_loops(int threads) {
  if (threads < 1) fail("HTTP server: threads must be at least 1, got {}", threads);
  std::vector<std::unique_ptr<Server::Loop>> loops;
  for (int i = 0; i < threads; ++i) loops.push_back(std::make_unique<Server::Loop>());
  return loops;
}

}  // namespace

Server::Server(ServerOptions options, Handler handler)
    : shared_(std::make_shared<Shared>()), loops_(make_loops(options.threads)), acceptor_(loops_.front()->io) {
  if (options.max_connections < 1) fail("HTTP server: max_connections must be at least 1, got {}", options.max_connections);
  shared_->options = std::move(options);
  shared_->handler = std::move(handler);
}

Server::~Server() { shutdown(std::chrono::milliseconds(0)); }

void Server::start() {
  const auto& options = shared_->options;
  error_code ec;
  tcp::endpoint endpoint;
  const auto address = net::ip::make_address(options.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, options.port);
  } else {
    tcp::resolver resolver(loops_.front()->io);
    auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
    if (ec || results.empty()) fail("cannot resolve host '{}': {}", options.host, ec.message());
    endpoint = *results.begin();
  }
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) fail("cannot listen on {}:{}: {}", options.host, options.port, ec.message());
  port_ = acceptor_.local_endpoint().port();

  accept();
  for (auto& loop : loops_) {
    threads_.emplace_back([&io = loop->io] {
      // Keeps the loop running while it has no connection.
      auto work = net::make_work_guard(io);
      // A handler that throws must not take the io thread (and the process) down with it.
      while (true) {
        try {
          io.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("HTTP io thread: unexpected exception: {}", e.what());
        }
      }
    });
  }
}

int Server::connections() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->open;
}

namespace {

// Answers a connection over the cap with 503 and closes it, without reading its request.
void refuse(LoopSocket socket, const Server::Shared& shared) {
  auto response = std::make_shared<Response>(shared.error_response(Status::service_unavailable, "too many connections"));
  response->keep_alive(false);
  response->set(Field::retry_after, "1");
  response->prepare_payload();
  auto stream = std::make_shared<LoopSocket>(std::move(socket));
  boost::beast::http::async_write(*stream, *response, [stream, response](error_code, std::size_t) {
    error_code ignored;
    stream->shutdown(tcp::socket::shutdown_both, ignored);
    stream->close(ignored);
  });
}

}  // namespace

void Server::accept() {
  auto& loop = *loops_[next_loop_++ % loops_.size()];
  acceptor_.async_accept(loop.io, [this, &loop](error_code ec, LoopSocket socket) {
    if (!acceptor_.is_open() || ec == net::error::operation_aborted) return;
    if (ec) {
      // Typically out of file descriptors: wait a little instead of spinning on the error.
      spdlog::warn("HTTP accept failed: {}; retrying in 100 ms", ec.message());
      auto timer = std::make_shared<net::steady_timer>(acceptor_.get_executor(), std::chrono::milliseconds(100));
      timer->async_wait([this, timer](error_code) {
        if (acceptor_.is_open()) accept();
      });
      return;
    }
    // At the cap, the oldest connection idling between requests makes room: idle keep-alive
    // (or never-used) connections must not lock out clients with work to do.
    std::shared_ptr<Session> evicted;
    std::vector<std::shared_ptr<Session>> scanned;  // released after the lock: a session's destructor takes it
    bool over_cap;
    {
      std::lock_guard lock(shared_->mutex);
      if (shared_->open >= shared_->options.max_connections) {
        for (const auto& weak : shared_->sessions) {
          auto candidate = weak.lock();
          if (!candidate) continue;
          if (candidate->claim_idle()) {
            evicted = std::move(candidate);
            break;
          }
          scanned.push_back(std::move(candidate));
        }
      }
      over_cap = shared_->open >= shared_->options.max_connections && !evicted;
      if (!over_cap) ++shared_->open;
    }
    scanned.clear();
    if (evicted) evicted->force_close();
    if (over_cap) {
      refuse(std::move(socket), *shared_);
    } else {
      auto session = std::make_shared<Session>(std::move(socket), loop, shared_);
      {
        std::lock_guard lock(shared_->mutex);
        auto& sessions = shared_->sessions;
        if (sessions.size() > 64 && sessions.size() > 2 * static_cast<std::size_t>(shared_->open))
          std::erase_if(sessions, [](const auto& weak) { return weak.expired(); });
        sessions.push_back(session);
      }
      session->start();
    }
    accept();
  });
}

void Server::shutdown(std::chrono::milliseconds grace) {
  if (stopped_) return;
  stopped_ = true;
  shared_->stopping = true;
  net::post(acceptor_.get_executor(), [this] {
    error_code ignored;
    acceptor_.close(ignored);
  });

  auto live_sessions = [this] {
    std::vector<std::shared_ptr<Session>> out;
    std::lock_guard lock(shared_->mutex);
    for (auto& weak : shared_->sessions)
      if (auto session = weak.lock()) out.push_back(std::move(session));
    return out;
  };
  auto wait_until_closed = [this](std::chrono::milliseconds limit) {
    std::unique_lock lock(shared_->mutex);
    shared_->changed.wait_for(lock, limit, [this] { return shared_->open == 0; });
  };

  for (auto& session : live_sessions()) session->server_stopping();
  if (!threads_.empty()) wait_until_closed(grace);
  for (auto& session : live_sessions()) session->force_close();
  if (!threads_.empty()) wait_until_closed(std::chrono::milliseconds(1000));
  for (auto& loop : loops_) loop->io.stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace tide::http
