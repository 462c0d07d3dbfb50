#pragma once
// Strict, typed reads from one YAML mapping. Every read names the full field path in its
// error, values are parsed from the scalar text here (not yaml-cpp's as<T>, whose errors name
// no field and accept "1e400"), and finish() rejects keys nobody read: a typo such as
// `replica:` is an error, not a silently ignored setting.
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

namespace tide {

class YamlFields {
 public:
  // `node` must be a mapping, or null (an absent section: every read gives its default).
  YamlFields(const YAML::Node& node, std::string path);

  bool has(const std::string& key) const;
  // The raw child, marked as read; a null node when absent.
  YAML::Node child(const std::string& key);
  std::string field_path(const std::string& key) const;
  const std::string& path() const { return path_; }

  std::string string(const std::string& key, std::string fallback);
  bool boolean(const std::string& key, bool fallback);
  double number(const std::string& key, double fallback, double min, double max);
  uint64_t integer(const std::string& key, uint64_t fallback, uint64_t min, uint64_t max);
  // "250ms", "5s", "2m", "1h", or a plain number of seconds.
  std::chrono::milliseconds duration(const std::string& key, std::chrono::milliseconds fallback,
                                     std::chrono::milliseconds min, std::chrono::milliseconds max);
  // A byte count: plain, or with a KiB/MiB/GiB suffix.
  uint64_t bytes(const std::string& key, uint64_t fallback, uint64_t max);

  // Throws naming the first key that was never read.
  void finish() const;

 private:
  YAML::Node node_;
  std::string path_;
  std::set<std::string> read_;
};

// Scalar readers for list items and other nodes outside a mapping; `path` names the node.
std::string yaml_scalar(const YAML::Node& node, const std::string& path);
double yaml_number(const YAML::Node& node, const std::string& path, double min, double max);
uint64_t yaml_integer(const YAML::Node& node, const std::string& path, uint64_t min, uint64_t max);
std::chrono::milliseconds yaml_duration(const YAML::Node& node, const std::string& path);
// A sequence, or null for an absent list; anything else throws.
void require_sequence(const YAML::Node& node, const std::string& path);

}  // namespace tide
