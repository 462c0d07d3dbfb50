#include "autoscaler/policy/simulator.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <queue>
#include <random>

namespace tide::autoscaler {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// std::mt19937_64's output is fixed by the standard; the distributions are not, so the draws
// are made here and a seed gives the same run with every standard library.
class Draws {
 public:
  explicit Draws(uint64_t seed) : engine_(seed) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double exponential(double mean) { return -mean * std::log1p(-uniform()); }

 private:
  std::mt19937_64 engine_;
};

enum class State { Starting, Ready, Draining, Stopped };

struct Replica {
  State state;
  double ready_at;
  int in_flight = 0;
};

struct Timed {
  double time_s;
  std::size_t replica;
  bool operator>(const Timed& o) const { return time_s > o.time_s || (time_s == o.time_s && replica > o.replica); }
};
using MinHeap = std::priority_queue<Timed, std::vector<Timed>, std::greater<>>;

// The pool's state and the per-interval counters its samples are made of.
class Pool {
 public:
  // Arrivals and service times draw from separate streams, so every policy meets the very
  // same requests (common random numbers): differences between runs are the policies'.
  Pool(const SimulationOptions& options, uint64_t seed) : o_(options), arrivals_draws_(seed), service_draws_(~seed) {}

  Draws& arrival_draws() { return arrivals_draws_; }

  void add_ready(int n) {
    for (int i = 0; i < n; ++i) {
      replicas_.push_back({State::Ready, 0});
      free_slots_ += o_.replica.slots;
    }
    ready_ += n;
  }

  // The pool in steady state at the trace's start: `n` requests already running (not counted
  // as arrivals), each with an exponential remaining service time (memoryless).
  void preload(int n) {
    for (int i = 0; i < n && free_slots_ > 0; ++i) {
      const std::size_t r = static_cast<std::size_t>(i) % replicas_.size();
      if (replicas_[r].in_flight == o_.replica.slots) continue;
      ++replicas_[r].in_flight;
      --free_slots_;
      completions_.push({service_draws_.exponential(o_.replica.prefill_s + o_.replica.decode_s), r});
    }
  }

  void start(double now, int n) {
    for (int i = 0; i < n; ++i) {
      replicas_.push_back({State::Starting, now + o_.replica.startup_s});
      ready_events_.push({now + o_.replica.startup_s, replicas_.size() - 1});
    }
    starting_ += n;
  }

  // Cancels the replicas that would be ready last, then drains the least loaded ready ones.
  void remove(int n) {
    for (std::size_t i = replicas_.size(); i-- > 0 && n > 0;) {
      if (replicas_[i].state != State::Starting) continue;
      replicas_[i].state = State::Stopped;
      --starting_;
      --n;
    }
    while (n-- > 0) {
      std::size_t best = replicas_.size();
      for (std::size_t i = 0; i < replicas_.size(); ++i)
        if (replicas_[i].state == State::Ready && (best == replicas_.size() || replicas_[i].in_flight < replicas_[best].in_flight))
          best = i;
      if (best == replicas_.size()) return;
      Replica& r = replicas_[best];
      free_slots_ -= o_.replica.slots - r.in_flight;
      --ready_;
      r.state = r.in_flight > 0 ? State::Draining : State::Stopped;
      if (r.state == State::Draining) ++draining_;
    }
  }

  void arrive(double now) {
    ++arrivals_;
    if (queue_.empty() && free_slots_ > 0) {
      std::size_t best = replicas_.size();
      for (std::size_t i = 0; i < replicas_.size(); ++i)
        if (replicas_[i].state == State::Ready && replicas_[i].in_flight < o_.replica.slots &&
            (best == replicas_.size() || replicas_[i].in_flight < replicas_[best].in_flight))
          best = i;
      begin(now, now, best);
    } else {
      queue_.push_back(now);
    }
  }

  double next_event() const {
    const double c = completions_.empty() ? kInf : completions_.top().time_s;
    const double r = ready_events_.empty() ? kInf : ready_events_.top().time_s;
    return std::min(c, r);
  }

  // Runs the completion or start-up due first.
  void step() {
    const bool completion = !completions_.empty() &&
                            (ready_events_.empty() || completions_.top().time_s <= ready_events_.top().time_s);
    if (completion) {
      const Timed t = completions_.top();
      completions_.pop();
      finish(t.time_s, t.replica);
    } else {
      const Timed t = ready_events_.top();
      ready_events_.pop();
      Replica& r = replicas_[t.replica];
      if (r.state != State::Starting) return;  // cancelled
      r.state = State::Ready;
      --starting_;
      ++ready_;
      free_slots_ += o_.replica.slots;
      while (!queue_.empty() && r.in_flight < o_.replica.slots) {
        const double arrived = queue_.front();
        queue_.pop_front();
        begin(t.time_s, arrived, t.replica);
      }
    }
  }

  PoolSample sample(double now, double dt) {
    PoolSample s;
    s.time_s = now;
    s.ready = ready_;
    s.starting = starting_;
    int running_ready = 0, running_all = 0;
    for (const Replica& r : replicas_) {
      if (r.state == State::Ready) running_ready += r.in_flight;
      if (r.state == State::Ready || r.state == State::Draining) running_all += r.in_flight;
    }
    s.in_flight = running_ready;
    s.waiting = static_cast<double>(queue_.size());
    s.kv_usage = ready_ > 0 ? static_cast<double>(running_ready) / (ready_ * o_.replica.slots) : 0;
    // Every running request past its prefill decodes at output_tokens / decode_s.
    s.tokens_per_s = running_all * o_.replica.output_tokens / o_.replica.decode_s;
    s.arrival_rate = arrivals_ / dt;
    s.completion_rate = completed_ / dt;
    if (first_tokens_ > 0) s.slo_attainment = static_cast<double>(first_tokens_met_) / first_tokens_;
    arrivals_ = completed_ = first_tokens_ = first_tokens_met_ = 0;
    return s;
  }

  int current() const { return ready_ + starting_; }
  int provisioned() const { return ready_ + starting_ + draining_; }
  int ready() const { return ready_; }
  bool queue_empty() const { return queue_.empty(); }
  const std::deque<double>& queue() const { return queue_; }
  std::vector<float>& ttfts() { return ttfts_; }
  int64_t met() const { return met_; }

 private:
  void begin(double now, double arrived, std::size_t i) {
    Replica& r = replicas_[i];
    ++r.in_flight;
    --free_slots_;
    const double ttft = now - arrived + o_.replica.prefill_s;
    ttfts_.push_back(static_cast<float>(ttft));
    ++first_tokens_;
    if (ttft <= o_.slo_ttft_s) {
      ++first_tokens_met_;
      ++met_;
    }
    completions_.push({now + o_.replica.prefill_s + service_draws_.exponential(o_.replica.decode_s), i});
  }

  void finish(double now, std::size_t i) {
    Replica& r = replicas_[i];
    --r.in_flight;
    ++completed_;
    if (r.state == State::Ready) {
      ++free_slots_;
      if (!queue_.empty()) {
        const double arrived = queue_.front();
        queue_.pop_front();
        begin(now, arrived, i);
      }
    } else if (r.state == State::Draining && r.in_flight == 0) {
      r.state = State::Stopped;
      --draining_;
    }
  }

  const SimulationOptions& o_;
  Draws arrivals_draws_, service_draws_;
  std::vector<Replica> replicas_;  // never erased: heap entries refer to them by index
  MinHeap completions_, ready_events_;
  std::deque<double> queue_;
  int ready_ = 0, starting_ = 0, draining_ = 0;
  int64_t free_slots_ = 0;
  int64_t arrivals_ = 0, completed_ = 0, first_tokens_ = 0, first_tokens_met_ = 0, met_ = 0;
  std::vector<float> ttfts_;
};

double quantile(std::vector<float>& v, double q) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(std::min<double>(v.size() - 1, std::floor(q * static_cast<double>(v.size()))));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int replicas_for_rate(double rate_rps, const ScalingConfig& config, const ReplicaModel& replica) {
  const int n = static_cast<int>(std::ceil(rate_rps / (config.predictive.utilization * replica.capacity_rps()) - 1e-9));
  return std::clamp(n, config.min_replicas, config.max_replicas);
}

SimulationResult simulate(const Trace& trace, ScalingPolicy& policy, const SimulationOptions& options,
                          const std::function<void(double)>& progress) {
  SimulationResult out;
  out.policy = std::string(policy.name());
  Pool pool(options, options.seed);
  pool.add_ready(options.initial_replicas);
  // Little's law: the requests in flight at the first row's rate.
  pool.preload(static_cast<int>(
      std::lround(trace.rows.front().rate_rps * (options.replica.prefill_s + options.replica.decode_s))));

  const double start = trace.start_s(), end = trace.end_s;
  std::size_t row = 0;
  auto row_end = [&](std::size_t i) { return i + 1 < trace.rows.size() ? trace.rows[i + 1].time_s : end; };
  // Poisson arrivals with a piecewise-constant rate: memoryless, so a draw that runs past the
  // row's end restarts at the next row with that row's rate.
  auto next_arrival_after = [&](double t) {
    while (row < trace.rows.size()) {
      const double rate = trace.rows[row].rate_rps;
      if (rate > 0) {
        const double next = t + pool.arrival_draws().exponential(1 / rate);
        if (next < row_end(row)) return next;
      }
      t = row_end(row);
      ++row;
    }
    return kInf;
  };

  double now = start, replica_seconds = 0, next_progress = start + 3600;
  double next_arrival = next_arrival_after(start);
  double next_tick = start + options.interval_s;
  std::size_t tick_row = 0;
  auto advance = [&](double t) {
    replica_seconds += pool.provisioned() * (std::min(t, end) - std::min(now, end));
    now = t;
  };

  while (true) {
    const double event = pool.next_event();
    if (next_tick > end && next_arrival == kInf) {
      // The trace is over: no new arrivals or ticks; let the queue reach the replicas.
      if (pool.queue_empty() || event == kInf) break;
      advance(event);
      pool.step();
      continue;
    }
    if (event <= next_arrival && event <= next_tick) {
      advance(event);
      pool.step();
    } else if (next_arrival <= next_tick) {
      advance(next_arrival);
      pool.arrive(now);
      next_arrival = next_arrival_after(now);
    } else {
      advance(next_tick);
      const PoolSample sample = pool.sample(now, options.interval_s);
      const int current = pool.current();
      const ScaleDecision d = policy.decide(sample, current);
      const int desired = std::max(0, d.desired);
      if (desired > current) pool.start(now, desired - current);
      if (desired < current) pool.remove(current - desired);
      if (desired != current) {
        ++out.scale_events;
        out.events.push_back({now, current, desired, d.reason});
      }
      while (tick_row + 1 < trace.rows.size() && trace.rows[tick_row + 1].time_s <= now) ++tick_row;
      out.timeline.push_back({now, trace.rows[tick_row].rate_rps, desired, pool.ready(), pool.provisioned()});
      out.max_replicas = std::max(out.max_replicas, pool.provisioned());
      next_tick += options.interval_s;
      if (progress && now >= next_progress) {
        progress((now - start) / (end - start));
        next_progress += 3600;
      }
    }
  }

  // Requests still queued when no replica is left to serve them missed the SLO.
  std::vector<float>& ttfts = pool.ttfts();
  for (const double arrived : pool.queue()) ttfts.push_back(static_cast<float>(now - arrived));
  out.requests = static_cast<int64_t>(ttfts.size());
  out.met_slo = pool.met();
  out.attainment = out.requests > 0 ? static_cast<double>(out.met_slo) / out.requests : 1;
  out.replica_hours = replica_seconds / 3600;
  out.max_replicas = std::max(out.max_replicas, options.initial_replicas);
  out.p50_ttft_s = quantile(ttfts, 0.50);
  out.p99_ttft_s = quantile(ttfts, 0.99);
  return out;
}

}  // namespace tide::autoscaler
