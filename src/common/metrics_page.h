#pragma once
// A /metrics page (Prometheus text format 0.0.4) read into samples with their labels: the one
// reader of replicas' pages, for the gateway's load signals and the autoscaler's (counters per
// label set, histogram buckets by `le`, series of one pool). The page is untrusted: comments,
// malformed lines and non-finite values are skipped, never thrown on.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tide {

struct MetricSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // in page order, values unescaped
  double value = 0;

  // The value of label `key`, or nullptr.
  const std::string* label(std::string_view key) const;
};

class MetricsPage {
 public:
  explicit MetricsPage(std::string_view text);

  // Sum over every sample named `name` (whose `label_key` equals `label_value`, when a key is
  // given); nullopt-like: `found` false when no sample matched.
  struct Sum {
    double value = 0;
    bool found = false;
  };
  Sum sum(std::string_view name, std::string_view label_key = {}, std::string_view label_value = {}) const;
  // A histogram's cumulative buckets (`name`_bucket), summed over label sets other than `le`,
  // sorted by bound; +Inf last.
  std::vector<std::pair<double, double>> buckets(std::string_view name) const;
  const std::vector<MetricSample>& samples() const { return samples_; }

 private:
  std::vector<MetricSample> samples_;
};

}  // namespace tide
