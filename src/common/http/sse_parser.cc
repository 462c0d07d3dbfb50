#include "common/http/sse_parser.h"

#include "common/error.h"

namespace tide::http {

std::vector<std::string> SseParser::feed(std::string_view bytes) {
  std::vector<std::string> events;
  while (!bytes.empty()) {
    const std::size_t newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      partial_line_.append(bytes);
      break;
    }
    partial_line_.append(bytes.substr(0, newline));
    bytes.remove_prefix(newline + 1);
    std::string text = std::move(partial_line_);
    partial_line_.clear();
    if (!text.empty() && text.back() == '\r') text.pop_back();
    line(text, events);
  }
  if (partial_line_.size() + data_.size() > max_event_bytes_)
    fail("server-sent event larger than {} bytes", max_event_bytes_);
  return events;
}

void SseParser::line(std::string_view text, std::vector<std::string>& events) {
  if (text.empty()) {  // a blank line ends the event
    if (has_data_) events.push_back(std::move(data_));
    data_.clear();
    has_data_ = false;
    return;
  }
  if (text.front() == ':') return;  // comment (keep-alive pings)
  const std::size_t colon = text.find(':');
  const std::string_view field = text.substr(0, colon);
  if (field != "data") return;
  std::string_view value = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (has_data_) data_ += '\n';
  data_.append(value);
  has_data_ = true;
  if (data_.size() > max_event_bytes_) fail("server-sent event larger than {} bytes", max_event_bytes_);
}

}  // namespace tide::http
