#include "gateway/proxy/response_text.h"

#include <nlohmann/json.hpp>

namespace tide::gateway {
namespace {

void append_choices(const nlohmann::json& json, std::string& out) {
  auto choices = json.find("choices");
  if (choices == json.end() || !choices->is_array()) return;
  for (const auto& choice : *choices) {
    if (!choice.is_object()) continue;
    auto take = [&](const nlohmann::json& holder, const char* field) {
      if (auto v = holder.find(field); v != holder.end() && v->is_string()) out += v->get_ref<const std::string&>();
    };
    take(choice, "text");
    for (const char* part : {"message", "delta"})
      if (auto m = choice.find(part); m != choice.end() && m->is_object()) {
        take(*m, "reasoning_content");
        take(*m, "content");
      }
  }
}

}  // namespace

std::string generated_text(std::string_view body) {
  std::string out;
  const auto first = body.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return out;
  if (body[first] == '{') {
    auto json = nlohmann::json::parse(body, nullptr, false);
    if (!json.is_discarded()) append_choices(json, out);
    return out;
  }
  // An event stream: each `data:` line carries one chunk.
  while (!body.empty()) {
    const auto end = body.find('\n');
    std::string_view line = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view{} : body.substr(end + 1);
    if (!line.starts_with("data:")) continue;
    line.remove_prefix(5);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line == "[DONE]") continue;
    auto json = nlohmann::json::parse(line, nullptr, false);
    if (!json.is_discarded() && json.is_object()) append_choices(json, out);
  }
  return out;
}

}  // namespace tide::gateway
