#include "common/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace tide {
namespace {

void atomic_add(std::atomic<double>& target, double v) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + v, std::memory_order_relaxed)) {
  }
}

std::string format_value(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::abs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string label_text(const std::vector<std::string>& names, const std::vector<std::string>& values,
                       const std::string& extra = {}) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i)
    out += fmt::format("{}{}=\"{}\"", out.empty() ? "" : ",", names[i], escape_label(values[i]));
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? "" : "{" + out + "}";
}

}  // namespace

void Counter::inc(double v) { atomic_add(value_, v); }
void Gauge::add(double v) { atomic_add(value_, v); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  const std::size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::cumulative_counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) out[i] = running += buckets_[i].load(std::memory_order_relaxed);
  return out;
}

template <typename Metric>
template <typename Values>
Metric& Family<Metric>::find_or_add(const Values& values) {
  if (values.size() != label_names_.size())
    fail("metric {}: {} label values given for {} labels", name_, values.size(), label_names_.size());
  thread_local std::string key;  // reused: a lookup allocates nothing once warm
  key.clear();
  for (std::string_view v : values) {
    const auto n = static_cast<uint32_t>(v.size());
    key.append(reinterpret_cast<const char*>(&n), sizeof n);
    key.append(v);
  }
  {
    std::shared_lock lock(mutex_);
    if (auto it = index_.find(std::string_view(key)); it != index_.end()) return *it->second;
  }
  std::unique_lock lock(mutex_);
  if (auto it = index_.find(std::string_view(key)); it != index_.end()) return *it->second;
  auto& child = children_[std::vector<std::string>(values.begin(), values.end())];
  if constexpr (std::is_same_v<Metric, Histogram>)
    child = std::make_unique<Histogram>(bounds_);
  else
    child = std::make_unique<Metric>();
  index_.emplace(key, child.get());
  return *child;
}

template <typename Metric>
Metric& Family<Metric>::labels(std::initializer_list<std::string_view> values) {
  return find_or_add(values);
}

template <typename Metric>
Metric& Family<Metric>::labels(const std::vector<std::string>& values) {
  return find_or_add(values);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Family<Counter>& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                          std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  counters_.push_back(std::make_unique<Family<Counter>>(name, help, std::move(labels)));
  order_.push_back({'c', counters_.size() - 1});
  return *counters_.back();
}

Family<Gauge>& MetricsRegistry::gauge(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  gauges_.push_back(std::make_unique<Family<Gauge>>(name, help, std::move(labels)));
  order_.push_back({'g', gauges_.size() - 1});
  return *gauges_.back();
}

Family<Histogram>& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                              std::vector<double> bounds, std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  histograms_.push_back(std::make_unique<Family<Histogram>>(name, help, std::move(labels), std::move(bounds)));
  order_.push_back({'h', histograms_.size() - 1});
  return *histograms_.back();
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (auto [kind, index] : order_) {
    if (kind == 'c') {
      const auto& f = *counters_[index];
      out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", f.name(), f.help(), f.name());
      f.for_each([&](const auto& values, const Counter& c) {
        out += fmt::format("{}{} {}\n", f.name(), label_text(f.label_names(), values), format_value(c.value()));
      });
    } else if (kind == 'g') {
      const auto& f = *gauges_[index];
      out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", f.name(), f.help(), f.name());
      f.for_each([&](const auto& values, const Gauge& g) {
        out += fmt::format("{}{} {}\n", f.name(), label_text(f.label_names(), values), format_value(g.value()));
      });
    } else {
      const auto& f = *histograms_[index];
      out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", f.name(), f.help(), f.name());
      f.for_each([&](const auto& values, const Histogram& h) {
        const auto counts = h.cumulative_counts();
        for (std::size_t i = 0; i < counts.size(); ++i) {
          const std::string le = i < h.bounds().size() ? format_value(h.bounds()[i]) : "+Inf";
          out += fmt::format("{}_bucket{} {}\n", f.name(), label_text(f.label_names(), values, "le=\"" + le + "\""),
                             counts[i]);
        }
        out += fmt::format("{}_sum{} {}\n", f.name(), label_text(f.label_names(), values), format_value(h.sum()));
        out += fmt::format("{}_count{} {}\n", f.name(), label_text(f.label_names(), values), h.count());
      });
    }
  }
  return out;
}

}  // namespace tide
