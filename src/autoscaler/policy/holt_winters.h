#pragma once
// Additive Holt-Winters (triple exponential smoothing) over fixed time buckets: a level, a
// trend and one seasonal offset per bucket of the season (a day by default). Samples are
// averaged per bucket; a bucket closes when a sample of a later one arrives. Buckets with no
// samples (a gap) are filled with the forecast, so a short outage neither corrupts the
// seasonal offsets nor stalls the clock; a gap longer than a season restarts learning.
//
// Until a whole season has been seen there are no seasonal offsets: the model is Holt's
// linear (level + trend). At the end of the first season the offsets start as each bucket's
// difference from that season's mean. docs/autoscaler.md says why this model for tidal load.
#include <cstdint>
#include <vector>

namespace tide::autoscaler {

class HoltWinters {
 public:
  struct Params {
    double season_s = 86'400;
    double bucket_s = 300;
    double alpha = 0.5;  // level
    double beta = 0.05;  // trend
    double gamma = 0.3;  // seasonal offsets
  };
  explicit HoltWinters(Params params);

  // Samples must come in time order; an older one than the open bucket is ignored.
  void observe(double time_s, double value);

  bool empty() const { return closed_ == 0; }
  bool seasonal() const { return seasonal_; }
  // The forecast for the bucket holding `time_s` (never negative); 0 while empty.
  double forecast(double time_s) const;
  // The highest forecast over the buckets from `from_s` to `to_s`.
  double forecast_max(double from_s, double to_s) const;

 private:
  void close(int64_t bucket, double value);
  int64_t bucket_of(double time_s) const;
  std::size_t position(int64_t bucket) const;

  Params p_;
  std::size_t season_len_;
  double level_ = 0, trend_ = 0;
  std::vector<double> offsets_;     // per bucket of the season, once seasonal_
  std::vector<double> first_season_;  // raw bucket means while warming up
  bool seasonal_ = false;
  int64_t closed_ = 0;              // buckets closed since the (re)start
  int64_t last_closed_ = 0;
  int64_t open_ = 0;
  bool has_open_ = false;
  double open_sum_ = 0;
  int open_count_ = 0;
};

}  // namespace tide::autoscaler
