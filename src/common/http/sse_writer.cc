#include "common/http/sse_writer.h"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <stdexcept>

#include "common/http/exchange.h"
#include "common/http/session.h"

namespace tide::http {
namespace net = boost::asio;

std::string sse_event(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 8);
  std::size_t start = 0;
  while (true) {
    const std::size_t end = data.find('\n', start);
    std::string_view line = data.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out += "data: ";
    out += line;
    out += '\n';
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  out += '\n';
  return out;
}

SseWriter::SseWriter(std::shared_ptr<Exchange> exchange, std::string head)
    : exchange_(std::move(exchange)), head_(std::move(head)) {}

void SseWriter::write(std::string events, Done done) {
  if (writing_) throw std::logic_error("SseWriter::write while the previous write is in flight");
  if (ended_ || end_pending_) throw std::logic_error("SseWriter::write after end()");
  writing_ = true;
  auto completed = [self = shared_from_this(), done = std::move(done)](bool ok) {
    self->writing_ = false;
    if (!ok) self->failed_ = true;
    done(ok);
    if (self->end_pending_ && !self->writing_) self->finish();
  };
  auto& session = *exchange_->session_;
  std::string bytes = std::move(head_);
  head_.clear();
  // An empty chunk would end the response (chunked encoding's terminator).
  if (!events.empty()) bytes += fmt::format("{:x}\r\n{}\r\n", events.size(), events);
  if (failed_ || bytes.empty()) {
    // Nothing to send; still complete asynchronously, like every write.
    net::post(session.executor(), [completed = std::move(completed), ok = !failed_]() mutable { completed(ok); });
    return;
  }
  session.write_stream(exchange_->id_, std::move(bytes), std::move(completed));
}

void SseWriter::end() {
  if (ended_ || end_pending_) return;
  if (writing_) {
    end_pending_ = true;
    return;
  }
  finish();
}

void SseWriter::finish() {
  end_pending_ = false;
  ended_ = true;
  exchange_->session_->end_stream(exchange_->id_, std::move(head_) + "0\r\n\r\n");
}

}  // namespace tide::http
