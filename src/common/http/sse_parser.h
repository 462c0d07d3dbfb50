#pragma once
// Reads a text/event-stream incrementally: bytes in as they arrive from the network, the data
// of each completed event out. Only the `data` field matters to Tide's clients; comments and
// other fields are skipped, as the SSE specification allows.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tide::http {

class SseParser {
 public:
  // An event larger than `max_event_bytes` is an error (tide::Error): a misbehaving server must
  // not make the client buffer without bound.
  explicit SseParser(std::size_t max_event_bytes = std::size_t{16} << 20) : max_event_bytes_(max_event_bytes) {}

  // The data of every event these bytes complete, in order (lines of one event joined by '\n').
  std::vector<std::string> feed(std::string_view bytes);

 private:
  void line(std::string_view text, std::vector<std::string>& events);

  std::size_t max_event_bytes_;
  std::string partial_line_;
  std::string data_;
  bool has_data_ = false;
};

}  // namespace tide::http
