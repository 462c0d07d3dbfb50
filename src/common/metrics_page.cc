#include "common/metrics_page.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>

namespace tide {
namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
bool blank(char c) { return c == ' ' || c == '\t'; }

// A number as the format writes it, including +Inf for a bucket bound; nullopt when malformed.
std::optional<double> parse_number(std::string_view text, bool allow_inf) {
  if (allow_inf && (text == "+Inf" || text == "Inf")) return std::numeric_limits<double>::infinity();
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  const char c = text[0] == '-' && text.size() > 1 ? text[1] : text[0];
  if (!((c >= '0' && c <= '9') || c == '.')) return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// One line into a sample; false when it is not a well-formed sample line.
bool parse_line(std::string_view s, MetricSample& out) {
  std::size_t i = 0;
  auto done = [&] { return i >= s.size(); };
  auto skip = [&] {
    while (!done() && blank(s[i])) ++i;
  };
  skip();
  const std::size_t start = i;
  if (done() || !name_start(s[i])) return false;
  while (!done() && name_char(s[i])) ++i;
  out.name.assign(s.substr(start, i - start));
  out.labels.clear();
  if (!done() && s[i] == '{') {
    ++i;
    for (;;) {
      skip();
      if (done()) return false;
      if (s[i] == '}') {
        ++i;
        break;
      }
      const std::size_t key_start = i;
      if (!name_start(s[i]) || s[i] == ':') return false;
      while (!done() && name_char(s[i]) && s[i] != ':') ++i;
      std::string key(s.substr(key_start, i - key_start));
      skip();
      if (done() || s[i] != '=') return false;
      ++i;
      skip();
      if (done() || s[i] != '"') return false;
      std::string value;
      for (++i;; ++i) {
        if (done()) return false;
        if (s[i] == '\\') {
          if (++i >= s.size()) return false;
          value.push_back(s[i] == 'n' ? '\n' : s[i]);
        } else if (s[i] == '"') {
          ++i;
          break;
        } else {
          value.push_back(s[i]);
        }
      }
      out.labels.emplace_back(std::move(key), std::move(value));
      skip();
      if (done()) return false;
      if (s[i] == ',')
        ++i;
      else if (s[i] != '}')
        return false;
    }
  }
  if (done() || !blank(s[i])) return false;
  skip();
  const std::size_t value_start = i;
  while (!done() && !blank(s[i])) ++i;
  const auto value = parse_number(s.substr(value_start, i - value_start), false);
  if (!value) return false;
  // An optional timestamp (milliseconds, digits) may follow, and nothing else; the scrape's own
  // time is what counts.
  skip();
  const std::size_t stamp_start = i;
  if (!done() && s[i] == '-') ++i;
  const std::size_t digits = i;
  while (!done() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i > stamp_start && i == digits) return false;  // a lone '-'
  skip();
  if (!done()) return false;
  out.value = *value;
  return true;
}

}  // namespace

const std::string* MetricSample::label(std::string_view key) const {
  for (const auto& [k, v] : labels)
    if (k == key) return &v;
  return nullptr;
}

MetricsPage::MetricsPage(std::string_view text) {
  MetricSample sample;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    if (parse_line(line, sample)) samples_.push_back(sample);
  }
}

MetricsPage::Sum MetricsPage::sum(std::string_view name, std::string_view label_key,
                                  std::string_view label_value) const {
  Sum out;
  for (const MetricSample& s : samples_) {
    if (s.name != name) continue;
    if (!label_key.empty()) {
      const std::string* v = s.label(label_key);
      if (!v || *v != label_value) continue;
    }
    out.value += s.value;
    out.found = true;
  }
  return out;
}

std::vector<std::pair<double, double>> MetricsPage::buckets(std::string_view name) const {
  const std::string bucket = std::string(name) + "_bucket";
  std::map<double, double> by_bound;
  for (const MetricSample& s : samples_) {
    if (s.name != bucket) continue;
    const std::string* le = s.label("le");
    if (!le) continue;
    const auto bound = parse_number(*le, true);
    if (!bound) continue;
    by_bound[*bound] += s.value;
  }
  return {by_bound.begin(), by_bound.end()};
}

}  // namespace tide
