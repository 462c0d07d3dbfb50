#pragma once
// The I/O objects of one event loop (http::Server::Loop), bound to the loop's io_context itself
// rather than to Asio's type-erased any_io_executor, whose copies and queries on every operation
// and handler show up in a proxied request's profile.
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>

namespace tide::http {

using LoopExecutor = boost::asio::io_context::executor_type;
using LoopSocket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, LoopExecutor>;
using LoopTimer = boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                                    boost::asio::wait_traits<std::chrono::steady_clock>, LoopExecutor>;

}  // namespace tide::http
