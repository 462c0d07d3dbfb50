#include "bench/client_runner.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>

#include "common/error.h"
#include "common/http/client.h"

namespace tide::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Servers close keep-alive connections idle past their timeout (Tide: 60 s), and a request sent
// on such a connection fails; an idle worker therefore starts its next request on a new one.
constexpr auto kMaxIdleConnection = std::chrono::seconds(5);

void fail_with(RequestResult& r, std::string kind, std::string detail) {
  r.ok = false;
  r.error = std::move(kind);
  r.error_detail = std::move(detail);
}

bool check_status(RequestResult& r, const http::Response& response) {
  if (response.result_int() == 200) return true;
  fail_with(r, "http_" + std::to_string(response.result_int()), response.body().substr(0, 300));
  return false;
}

void apply_usage(RequestResult& r, const Usage& usage) {
  r.usage_reported = true;
  r.output_tokens = usage.completion_tokens;
  r.prompt_tokens = usage.prompt_tokens;
  r.cached_tokens = usage.cached_tokens;
}

void send_streamed(http::Client& client, const Target& target, const std::string& body, RequestResult& r) {
  r.streamed = true;
  const auto started = Clock::now();
  const auto deadline = started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(target.timeout_s));
  Clock::time_point last_text;
  int text_chunks = 0;
  bool done = false;
  std::optional<Usage> usage;
  const auto response = client.post_sse(endpoint_path(target.endpoint), body, [&](const std::string& data) {
    const auto now = Clock::now();
    StreamEvent event;
    try {
      event = parse_stream_event(data);
    } catch (const Error& e) {
      fail_with(r, "bad_response", e.what());
      return false;
    }
    if (event.error) {
      fail_with(r, "stream_error", *event.error);
      return false;
    }
    if (event.usage) usage = event.usage;
    if (event.content) {
      if (text_chunks == 0) r.ttft_s = seconds(now - started);
      else r.itl_s.push_back(seconds(now - last_text));
      last_text = now;
      ++text_chunks;
    }
    done = done || event.done;
    // The client's timeout bounds each wait for bytes; this bounds a stream that keeps trickling.
    if (now > deadline) {
      fail_with(r, "timeout", "the stream went on past --timeout-s");
      return false;
    }
    return true;
  });
  r.e2e_s = seconds(Clock::now() - started);
  if (!r.error.empty() || !check_status(r, response)) return;
  if (!done) return fail_with(r, "incomplete_stream", "the stream ended without data: [DONE]");
  r.output_tokens = text_chunks;
  if (usage) apply_usage(r, *usage);
  r.ok = true;
}

void send_whole(http::Client& client, const Target& target, const std::string& body, RequestResult& r) {
  const auto started = Clock::now();
  const auto response = client.post_json(endpoint_path(target.endpoint), body);
  r.e2e_s = seconds(Clock::now() - started);
  // Without streaming the first token reaches the client with the last one.
  r.ttft_s = r.e2e_s;
  if (!check_status(r, response)) return;
  try {
    if (auto usage = parse_response_usage(response.body())) apply_usage(r, *usage);
  } catch (const Error& e) {
    return fail_with(r, "bad_response", e.what());
  }
  r.ok = true;
}

RequestResult send_one(http::Client& client, const Target& target, const RequestSpec& request) {
  RequestResult r;
  r.sent = true;
  const std::string body = request_body(target.endpoint, target.model, request, target.stream, target.temperature);
  try {
    if (target.stream) send_streamed(client, target, body, r);
    else send_whole(client, target, body, r);
  } catch (const std::exception& e) {
    client.close();
    const std::string message = e.what();
    fail_with(r, message.find("timed out") != std::string::npos ? "timeout" : "connection", message);
  }
  return r;
}

// Hands requests to worker threads, adding a worker whenever none is idle.
class Dispatcher {
 public:
  Dispatcher(const Target& target, const std::vector<RequestSpec>& workload, RunResult& result, Counters& counters)
      : target_(target), workload_(workload), result_(result), counters_(counters) {}

  ~Dispatcher() { finish(); }

  // Waits until fewer than `cap` requests are in flight (0: no cap) or `deadline` passes;
  // false if the deadline passed first.
  bool wait_for_slot(int cap, Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return slot_free_.wait_until(lock, deadline, [&] { return cap == 0 || in_flight_ < cap; });
  }

  void submit(int index) {
    std::lock_guard lock(mutex_);
    ++in_flight_;
    counters_.in_flight = in_flight_;
    queue_.push_back(index);
    if (queue_.size() <= static_cast<std::size_t>(idle_)) return work_ready_.notify_one();
    try {
      workers_.emplace_back([this] { work(); });
    } catch (const std::system_error& e) {
      fail("cannot start a thread for request {} with {} in flight ({}); cap them with --concurrency", index + 1,
           in_flight_, e.what());
    }
  }

  // Lets the workers end once the queue is empty and joins them.
  void finish() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    work_ready_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
  }

 private:
  void work() {
    http::Client client(target_.host, target_.port,
                        std::chrono::milliseconds(static_cast<int64_t>(target_.timeout_s * 1000)));
    std::optional<Clock::time_point> last_used;
    std::unique_lock lock(mutex_);
    for (;;) {
      ++idle_;
      work_ready_.wait(lock, [this] { return !queue_.empty() || closing_; });
      --idle_;
      if (queue_.empty()) return;
      const int index = queue_.front();
      queue_.pop_front();
      lock.unlock();

      if (last_used && Clock::now() - *last_used > kMaxIdleConnection) client.close();
      counters_.sent++;
      RequestResult r = send_one(client, target_, workload_[index]);
      last_used = Clock::now();
      (r.ok ? counters_.completed : counters_.failed)++;

      lock.lock();
      result_.requests[index] = std::move(r);
      --in_flight_;
      counters_.in_flight = in_flight_;
      slot_free_.notify_all();
    }
  }

  const Target& target_;
  const std::vector<RequestSpec>& workload_;
  RunResult& result_;
  Counters& counters_;

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable slot_free_;
  std::deque<int> queue_;
  int idle_ = 0;
  int in_flight_ = 0;
  bool closing_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

std::optional<double> RequestResult::tpot_s() const {
  if (!streamed || !ttft_s || output_tokens < 2) return std::nullopt;
  return (e2e_s - *ttft_s) / (output_tokens - 1);
}

RunResult run_requests(const Target& target, const std::vector<RequestSpec>& workload, const std::vector<double>& offsets,
                       const RunLimits& limits, Counters& counters) {
  if (offsets.size() != workload.size()) fail("internal: {} arrival times for {} requests", offsets.size(), workload.size());
  RunResult result;
  result.requests.resize(workload.size());
  const auto started = Clock::now();
  const auto deadline = limits.duration_s > 0
                            ? started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limits.duration_s))
                            : Clock::time_point::max();
  {
    Dispatcher dispatcher(target, workload, result, counters);
    for (std::size_t i = 0; i < workload.size(); ++i) {
      const auto due = started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(offsets[i]));
      if (due >= deadline) break;
      std::this_thread::sleep_until(due);
      if (!dispatcher.wait_for_slot(limits.concurrency, deadline)) break;
      dispatcher.submit(static_cast<int>(i));
    }
    dispatcher.finish();
  }
  result.duration_s = seconds(Clock::now() - started);
  return result;
}

}  // namespace tide::bench
