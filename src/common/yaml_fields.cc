#include "common/yaml_fields.h"

#include <charconv>
#include <cmath>
#include <utility>

#include "common/error.h"

namespace tide {
namespace {

const char* type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "empty";
    default: return "a scalar";
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A finite decimal number; the whole text must be consumed.
bool parse_double(std::string_view text, double& out) {
  text = trim(text);
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && std::isfinite(out);
}

}  // namespace

std::string yaml_scalar(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) fail("{}: expected a scalar, got {}", path, type_name(node));
  return node.Scalar();
}

double yaml_number(const YAML::Node& node, const std::string& path, double min, double max) {
  const std::string text = yaml_scalar(node, path);
  double value = 0;
  if (!parse_double(text, value)) fail("{}: \"{}\" is not a number", path, text);
  if (value < min || value > max) fail("{}: {} is out of range [{}, {}]", path, text, min, max);
  return value;
}

uint64_t yaml_integer(const YAML::Node& node, const std::string& path, uint64_t min, uint64_t max) {
  const std::string text = yaml_scalar(node, path);
  const std::string_view t = trim(text);
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (ec == std::errc::result_out_of_range) fail("{}: {} is out of range [{}, {}]", path, text, min, max);
  if (t.empty() || ec != std::errc() || ptr != t.data() + t.size())
    fail("{}: \"{}\" is not a non-negative integer", path, text);
  if (value < min || value > max) fail("{}: {} is out of range [{}, {}]", path, text, min, max);
  return value;
}

std::chrono::milliseconds yaml_duration(const YAML::Node& node, const std::string& path) {
  const std::string text = yaml_scalar(node, path);
  std::string_view t = trim(text);
  double scale = 1000;  // a plain number is seconds
  for (const auto& [suffix, ms] : {std::pair{"ms", 1.0}, {"s", 1000.0}, {"m", 60'000.0}, {"h", 3'600'000.0}}) {
    const std::string_view sv(suffix);
    if (t.size() > sv.size() && t.substr(t.size() - sv.size()) == sv) {
      t.remove_suffix(sv.size());
      scale = ms;
      break;
    }
  }
  double value = 0;
  if (!parse_double(t, value) || value < 0)
    fail("{}: \"{}\" is not a duration (e.g. 250ms, 5s, 2m, 1h)", path, text);
  const double ms = value * scale;
  // A year bounds every duration a configuration has; beyond it the value is surely a mistake.
  if (ms > 365.0 * 24 * 3'600'000) fail("{}: {} is longer than a year", path, text);
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(ms)));
}

void require_sequence(const YAML::Node& node, const std::string& path) {
  if (node && !node.IsNull() && !node.IsSequence()) fail("{}: expected a list, got {}", path, type_name(node));
}

YamlFields::YamlFields(const YAML::Node& node, std::string path) : node_(node), path_(std::move(path)) {
  if (node_ && !node_.IsNull() && !node_.IsMap()) fail("{}: expected a mapping, got {}", path_, type_name(node_));
}

std::string YamlFields::field_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

bool YamlFields::has(const std::string& key) const {
  if (!node_ || !node_.IsMap()) return false;
  const YAML::Node value = node_[key];
  return value && !value.IsNull();
}

YAML::Node YamlFields::child(const std::string& key) {
  read_.insert(key);
  if (!node_ || !node_.IsMap()) return YAML::Node(YAML::NodeType::Null);
  // The const operator[] never inserts the key into the mapping finish() walks.
  const YAML::Node& map = node_;
  const YAML::Node value = map[key];
  return value ? value : YAML::Node(YAML::NodeType::Null);
}

std::string YamlFields::string(const std::string& key, std::string fallback) {
  const YAML::Node value = child(key);
  return value.IsNull() ? fallback : yaml_scalar(value, field_path(key));
}

bool YamlFields::boolean(const std::string& key, bool fallback) {
  const YAML::Node value = child(key);
  if (value.IsNull()) return fallback;
  const std::string text = yaml_scalar(value, field_path(key));
  if (text == "true") return true;
  if (text == "false") return false;
  fail("{}: \"{}\" is not true or false", field_path(key), text);
}

double YamlFields::number(const std::string& key, double fallback, double min, double max) {
  const YAML::Node value = child(key);
  return value.IsNull() ? fallback : yaml_number(value, field_path(key), min, max);
}

uint64_t YamlFields::integer(const std::string& key, uint64_t fallback, uint64_t min, uint64_t max) {
  const YAML::Node value = child(key);
  return value.IsNull() ? fallback : yaml_integer(value, field_path(key), min, max);
}

std::chrono::milliseconds YamlFields::duration(const std::string& key, std::chrono::milliseconds fallback,
                                               std::chrono::milliseconds min, std::chrono::milliseconds max) {
  const YAML::Node value = child(key);
  if (value.IsNull()) return fallback;
  const auto d = yaml_duration(value, field_path(key));
  if (d < min || d > max)
    fail("{}: {} is out of range [{}ms, {}ms]", field_path(key), value.Scalar(), min.count(), max.count());
  return d;
}

uint64_t YamlFields::bytes(const std::string& key, uint64_t fallback, uint64_t max) {
  const YAML::Node value = child(key);
  if (value.IsNull()) return fallback;
  const std::string text = yaml_scalar(value, field_path(key));
  std::string_view t = trim(text);
  uint64_t scale = 1;
  for (const auto& [suffix, s] : {std::pair{"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}}) {
    const std::string_view sv(suffix);
    if (t.size() > sv.size() && t.substr(t.size() - sv.size()) == sv) {
      t.remove_suffix(sv.size());
      scale = s;
      break;
    }
  }
  t = trim(t);
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (t.empty() || ec != std::errc() || ptr != t.data() + t.size())
    fail("{}: \"{}\" is not a size (e.g. 65536, 512KiB, 64MiB)", field_path(key), text);
  if (n > max / scale) fail("{}: {} is larger than {} bytes", field_path(key), text, max);
  return n * scale;
}

void YamlFields::finish() const {
  if (!node_ || !node_.IsMap()) return;
  for (const auto& entry : node_) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "<non-scalar key>";
    if (!read_.contains(key)) fail("{}: unknown key", field_path(key));
  }
}

}  // namespace tide
