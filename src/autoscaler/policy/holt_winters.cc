#include "autoscaler/policy/holt_winters.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace tide::autoscaler {

HoltWinters::HoltWinters(Params params)
    : p_(params), season_len_(static_cast<std::size_t>(std::llround(params.season_s / params.bucket_s))) {
  season_len_ = std::max<std::size_t>(season_len_, 1);
}

int64_t HoltWinters::bucket_of(double time_s) const { return static_cast<int64_t>(std::floor(time_s / p_.bucket_s)); }

std::size_t HoltWinters::position(int64_t bucket) const {
  const auto m = static_cast<int64_t>(season_len_);
  return static_cast<std::size_t>(((bucket % m) + m) % m);
}

void HoltWinters::observe(double time_s, double value) {
  if (!std::isfinite(time_s) || !std::isfinite(value)) return;
  const int64_t b = bucket_of(time_s);
  if (!has_open_) {
    has_open_ = true;
    open_ = b;
  }
  if (b < open_) return;
  if (b > open_) {
    close(open_, open_sum_ / open_count_);
    if (b - open_ - 1 >= static_cast<int64_t>(season_len_)) {
      // Longer than a season without data: what was learned no longer describes the load.
      *this = HoltWinters(p_);
      has_open_ = true;
    } else {
      for (int64_t gap = open_ + 1; gap < b; ++gap) close(gap, forecast(gap * p_.bucket_s));
    }
    open_ = b;
    open_sum_ = 0;
    open_count_ = 0;
  }
  open_sum_ += value;
  ++open_count_;
}

void HoltWinters::close(int64_t bucket, double value) {
  const std::size_t pos = position(bucket);
  if (closed_ == 0) {
    level_ = value;
    trend_ = 0;
  } else {
    const double offset = seasonal_ ? offsets_[pos] : 0;
    const double previous = level_;
    level_ = p_.alpha * (value - offset) + (1 - p_.alpha) * (level_ + trend_);
    trend_ = p_.beta * (level_ - previous) + (1 - p_.beta) * trend_;
    if (seasonal_) offsets_[pos] = p_.gamma * (value - level_) + (1 - p_.gamma) * offsets_[pos];
  }
  ++closed_;
  last_closed_ = bucket;
  if (seasonal_) return;
  first_season_.push_back(value);
  if (first_season_.size() == season_len_) {
    // The first season's mean is the level; each bucket's offset is its distance from it.
    // first_season_[0] belongs to the position of the bucket season_len_ - 1 buckets ago.
    const double mean = std::accumulate(first_season_.begin(), first_season_.end(), 0.0) / season_len_;
    offsets_.assign(season_len_, 0);
    const int64_t first = bucket - static_cast<int64_t>(season_len_) + 1;
    for (std::size_t i = 0; i < season_len_; ++i) offsets_[position(first + static_cast<int64_t>(i))] = first_season_[i] - mean;
    level_ = mean;
    trend_ = 0;
    seasonal_ = true;
    first_season_.clear();
    first_season_.shrink_to_fit();
  }
}

double HoltWinters::forecast(double time_s) const {
  if (closed_ == 0) return 0;
  const int64_t h = std::max<int64_t>(1, bucket_of(time_s) - last_closed_);
  const double offset = seasonal_ ? offsets_[position(bucket_of(time_s))] : 0;
  return std::max(0.0, level_ + static_cast<double>(h) * trend_ + offset);
}

double HoltWinters::forecast_max(double from_s, double to_s) const {
  double best = forecast(from_s);
  for (int64_t b = bucket_of(from_s) + 1; b <= bucket_of(to_s); ++b) best = std::max(best, forecast(b * p_.bucket_s));
  return best;
}

}  // namespace tide::autoscaler
