#include "common/http/exchange.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <stdexcept>

#include "common/http/session.h"
#include "common/http/sse_writer.h"

namespace tide::http {
namespace net = boost::asio;

Exchange::Exchange(std::shared_ptr<Session> session, uint64_t id, Request request, std::string remote)
    : session_(std::move(session)), id_(id), request_(std::move(request)), remote_(std::move(remote)) {}

Exchange::~Exchange() {
  net::post(session_->executor(), [session = session_, id = id_] { session->abandon(id); });
}

LoopExecutor Exchange::executor() const { return session_->executor(); }

void Exchange::respond(Response response) {
  net::dispatch(session_->executor(), [session = session_, id = id_, response = std::move(response)]() mutable {
    session->respond(id, std::move(response));
  });
}

void Exchange::respond(Status status, std::string header_lines, std::string body) {
  net::dispatch(session_->executor(), [session = session_, id = id_, status, header_lines = std::move(header_lines),
                                       body = std::move(body)]() mutable {
    session->respond(id, status, std::move(header_lines), std::move(body));
  });
}

std::shared_ptr<SseWriter> Exchange::start_sse(Response head) {
  if (!session_->executor().running_in_this_thread())
    throw std::logic_error("Exchange::start_sse must be called on the exchange's executor");
  head.set(Field::content_type, "text/event-stream");
  head.set(Field::cache_control, "no-cache");
  head.set("X-Accel-Buffering", "no");  // nginx and friends must not hold events back
  auto serialized = session_->begin_stream(id_, std::move(head));
  if (!serialized) throw std::logic_error("Exchange::start_sse: the request was already answered");
  return std::make_shared<SseWriter>(shared_from_this(), std::move(*serialized));
}

void Exchange::on_disconnect(std::function<void()> callback) {
  net::dispatch(session_->executor(), [session = session_, id = id_, callback = std::move(callback)]() mutable {
    session->set_disconnect_callback(id, std::move(callback));
  });
}

}  // namespace tide::http
