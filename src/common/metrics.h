#pragma once
// Prometheus metrics: counters, gauges and histograms, optionally with labels, rendered in the
// text exposition format (version 0.0.4). Written here because no Prometheus client library
// for C++ is packaged in Debian 12; the subset is small and the format is stable.
//
// Updates are lock-free atomics on the hot path (a decode step updates several metrics per
// token); finding a child by its label values takes a shared lock and allocates nothing (the
// gateway looks up several per request); only creating a new label combination takes the lock
// exclusively.
#include <atomic>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tide {

class Counter {
 public:
  void inc(double v = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound (Prometheus `le` semantics), then +Inf.
  std::vector<uint64_t> cumulative_counts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0.0};
  std::atomic<uint64_t> count_{0};
};

// A metric name with HELP text and one child per label-value combination.
template <typename Metric>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names, std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), bounds_(std::move(bounds)) {}

  // The child for these label values (in label_names order); created on first use and valid
  // for the registry's lifetime.
  Metric& labels(std::initializer_list<std::string_view> values);
  Metric& labels(const std::vector<std::string>& values);
  Metric& get() { return labels(std::initializer_list<std::string_view>{}); }

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    std::shared_lock lock(mutex_);
    for (const auto& [values, metric] : children_) fn(values, *metric);
  }

 private:
  template <typename Values>
  Metric& find_or_add(const Values& values);

  // Hashes the lookup key as a string_view, so that finding a child needs no std::string.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::shared_mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;  // in label order, for rendering
  // The same children by their label values, each length-prefixed so that no two lists meet.
  std::unordered_map<std::string, Metric*, KeyHash, std::equal_to<>> index_;
};

class MetricsRegistry {
 public:
  Family<Counter>& counter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help, std::vector<double> bounds,
                               std::vector<std::string> labels = {});

  // The text exposition format, families in registration order.
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
  std::vector<std::pair<char, std::size_t>> order_;  // ('c'|'g'|'h', index)
};

}  // namespace tide
