#pragma once
// An HTTP/1.1 server on Boost.Asio/Beast, shared by everything in Tide that speaks HTTP (the
// OpenAI-compatible server, later the gateway). It knows nothing of what it serves: a handler
// gets each request as an Exchange and answers it whenever it is ready, with one response or a
// stream of Server-Sent Events.
//
// What it guards against, because the port faces untrusted clients: request bodies over a limit
// (413) and headers over a limit (431) are refused before they are buffered; a request that
// dribbles in slower than the read timeout (slow-loris) and a keep-alive connection idle past
// the idle timeout are closed; a client that stops reading a response is closed after the write
// timeout; connections beyond the cap are answered 503 and closed.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/http/exchange.h"

namespace tide::http {

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;  // 0 picks a free port; Server::port() tells which
  // io threads, each with its own event loop; a connection stays on one for its life. Handlers
  // run on them and must not block.
  int threads = 2;
  std::size_t max_body_bytes = std::size_t{16} << 20;
  std::size_t max_header_bytes = std::size_t{16} << 10;
  // From a request's first byte to its last; a client slower than this is closed.
  std::chrono::milliseconds read_timeout{30'000};
  // How long a keep-alive connection may sit between requests.
  std::chrono::milliseconds idle_timeout{60'000};
  // How long one response write may wait for the client to take the bytes.
  std::chrono::milliseconds write_timeout{30'000};
  int max_connections = 1024;
  // Builds the response for errors the server answers itself (400, 413, 431, 500, 503), so an
  // API can keep its own error format. Default: the message as text/plain.
  std::function<Response(Status status, const std::string& message)> error_response;
};

using Handler = std::function<void(std::shared_ptr<Exchange>)>;

class Server {
 public:
  // `handler` is called on an io thread for every complete request.
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, listens and starts the io threads. Throws tide::Error when the address cannot be
  // bound (in use, not local, no permission).
  void start();
  // The port bound (the real one when ServerOptions::port was 0).
  uint16_t port() const { return port_; }
  // Open connections right now.
  int connections() const;

  // Stops accepting and closes idle connections; requests already being read or answered go on,
  // then their connections close. After `grace`, every connection still open is closed. Joins
  // the io threads. Safe to call more than once.
  void shutdown(std::chrono::milliseconds grace);

  struct Shared;  // what sessions share with the server: options, handler, connection registry
  // One io_context per io thread, as nginx has one event loop per worker: a connection's
  // handlers all run on its loop's thread, in order, so no strand (and no lock) orders them.
  struct Loop {
    boost::asio::io_context io{1};  // concurrency hint: run by one thread

    // Starts watching the session's client for going away once its request has been handled
    // for a tick, if it still is then (Session::watch_peer says why not at once).
    void watch_later(std::weak_ptr<Session> session, uint64_t exchange);

   private:
    struct ToWatch {
      std::chrono::steady_clock::time_point due;
      std::weak_ptr<Session> session;
      uint64_t exchange = 0;  // the request it was due for: a later one has its own entry
    };
    void start_tick();

    // Touched by the loop's thread only; in order of `due`.
    std::deque<ToWatch> to_watch_;
    boost::asio::steady_timer watch_tick_{io};
    bool tick_pending_ = false;
  };

 private:
  void accept();

  std::shared_ptr<Shared> shared_;  // declared before the loops: sessions outlive them while they are destroyed
  std::vector<std::unique_ptr<Loop>> loops_;
  std::size_t next_loop_ = 0;  // where the next connection goes (round robin; touched by loop 0 only)
  boost::asio::ip::tcp::acceptor acceptor_;  // on loop 0
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  bool stopped_ = false;
};

}  // namespace tide::http
