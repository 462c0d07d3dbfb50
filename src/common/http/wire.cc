#include "common/http/wire.h"

#include <boost/beast/http/status.hpp>

namespace tide::http {
namespace {

// Every field as "Name: value\r\n", then the blank line.
template <class Fields>
void append_fields(std::string& out, const Fields& fields) {
  for (const auto& field : fields) {
    const auto name = field.name_string();
    const auto value = field.value();
    out.append(name.data(), name.size());
    out.append(": ", 2);
    out.append(value.data(), value.size());
    out.append("\r\n", 2);
  }
  out.append("\r\n", 2);
}

std::string_view version_text(unsigned version) { return version == 10 ? "HTTP/1.0" : "HTTP/1.1"; }

}  // namespace

std::string wire_head(const Response& response) {
  std::string out;
  out.reserve(256);
  wire_head(response, out);
  return out;
}

void wire_head(const Response& response, std::string& out) {
  out.clear();
  out.append(version_text(response.version()));
  out.push_back(' ');
  out.append(std::to_string(response.result_int()));
  out.push_back(' ');
  auto reason = response.reason();
  if (reason.empty()) reason = boost::beast::http::obsolete_reason(response.result());
  out.append(reason.data(), reason.size());
  out.append("\r\n", 2);
  append_fields(out, response.base());
}

}  // namespace tide::http
