// tide bench http: an open-loop load generator for one small fixed request at thousands per
// second, to measure what a proxy in front of a server adds (scripts/bench-gateway.sh runs it
// against nginx and tide gateway). Options are parsed here; the work is in src/bench.
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "bench/base_url.h"
#include "bench/http_load.h"
#include "bench/http_report.h"
#include "bench/progress.h"
#include "cli/commands.h"
#include "cli/json_output.h"
#include "common/error.h"

namespace tide::cli {
namespace {

// Ten million samples hold 160 MB: far more than any sensible run, far less than the machine.
constexpr double kMaxRequests = 10'000'000;

struct HttpBenchArgs {
  std::string url = "http://127.0.0.1:8000";
  std::string method = "POST";
  std::string path = "/v1/completions";
  std::string body = R"({"model":"demo","prompt":"Say hello.","max_tokens":16})";
  double rate = 5000;
  double duration_s = 20;
  double warmup_s = 1;
  int64_t num_requests = 0;
  int connections = 64;
  double timeout_s = 5;
  std::string json_path;
  bool progress = true;
};

void run_http_bench(const HttpBenchArgs& args) {
  const bench::BaseUrl base = bench::parse_base_url(args.url, /*allow_remote=*/false);
  if (!args.path.starts_with('/')) fail("--path '{}': must start with /", args.path);
  if (args.rate * (args.duration_s + args.warmup_s) > kMaxRequests)
    fail("--rate {:g} for {:g} s (+ {:g} s warm-up) is more than {:.0f} requests; shorten the run", args.rate,
         args.duration_s, args.warmup_s, kMaxRequests);

  bench::HttpLoadConfig config;
  config.host = base.host == "localhost" ? "127.0.0.1" : base.host;
  config.port = base.port;
  config.method = args.method;
  config.path = args.path;
  config.body = args.method == "GET" ? "" : args.body;
  config.rate = args.rate;
  config.duration_s = args.duration_s;
  config.warmup_s = args.warmup_s;
  config.max_requests = args.num_requests;
  config.connections = args.connections;
  config.timeout_s = args.timeout_s;
  spdlog::info("{} {}{} at {:g} req/s on {} connections for {:g} s (after {:g} s of warm-up)", args.method,
               base.text(), args.path, args.rate, args.connections, args.duration_s, args.warmup_s);

  bench::Counters counters;
  bench::HttpLoadResult result;
  {
    std::optional<bench::ProgressLine> progress;
    const auto expected = static_cast<int>(std::min(args.rate * args.duration_s, kMaxRequests));
    if (args.progress) progress.emplace(counters, args.num_requests > 0 ? static_cast<int>(args.num_requests) : expected);
    result = bench::run_http_load(config, counters);
  }

  const nlohmann::json echo = {{"url", base.text()},          {"method", args.method},
                               {"path", args.path},           {"body_bytes", config.body.size()},
                               {"rate", args.rate},           {"duration_s", args.duration_s},
                               {"warmup_s", args.warmup_s},   {"num_requests", args.num_requests},
                               {"connections", args.connections}, {"timeout_s", args.timeout_s}};
  const auto report = bench::make_http_report(std::move(result), args.rate, echo);
  std::cout << fmt::format("{} {}{}: {:g} req/s open loop (constant gaps) on {} keep-alive connections\n",
                           args.method, base.text(), args.path, args.rate, args.connections);
  std::cout << bench::http_report_table(report);
  const nlohmann::json json = bench::http_report_json(report);
  emit_json(json, args.json_path);
}

}  // namespace

void register_bench_http(CLI::App& bench) {
  auto args = std::make_shared<HttpBenchArgs>();
  auto* http = bench.add_subcommand(
      "http", "Open-loop load of one small fixed HTTP request at a constant rate: what a proxy adds to latency");
  http->footer(
      "Request i is due at start + i/rate. It goes out on the first idle keep-alive connection, or waits for\n"
      "one, and its latency counts from when it was due: a server that stalls is charged for every request\n"
      "due meanwhile (no coordinated omission, unlike a closed-loop tool such as wrk). 'service' is the time\n"
      "from the send instead. One thread drives every connection; loopback servers only.\n\n"
      "Example (what scripts/bench-gateway.sh runs against each target):\n"
      "  tide bench http --url http://127.0.0.1:8080 --rate 5000 --duration-s 20 --connections 64 --json out.json");
  http->add_option("--url", args->url, "Server, http://127.0.0.1:PORT (loopback only)")->capture_default_str();
  http->add_option("--method", args->method, "GET or POST")->check(CLI::IsMember({"GET", "POST"}))->capture_default_str();
  http->add_option("--path", args->path, "Request target")->capture_default_str();
  http->add_option("--body", args->body, "Request body (JSON) for POST")->capture_default_str();
  http->add_option("--rate", args->rate, "Requests per second, evenly spaced")
      ->check(CLI::Range(1.0, 1'000'000.0))
      ->capture_default_str();
  http->add_option("--duration-s", args->duration_s, "Seconds of schedule to measure")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  http->add_option("--warmup-s", args->warmup_s, "Seconds of schedule sent first and not counted")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  http->add_option("--num-requests", args->num_requests, "Measured requests at most (0: rate x duration)")
      ->check(CLI::Range(int64_t{0}, static_cast<int64_t>(kMaxRequests)))
      ->capture_default_str();
  http->add_option("--connections", args->connections, "Keep-alive connections, opened before the run")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  http->add_option("--timeout-s", args->timeout_s, "Give up on a request this long after it went out")
      ->check(CLI::Range(0.001, 600.0))
      ->capture_default_str();
  http->add_option("--json", args->json_path, "Write the JSON report here (default: print it after the table)");
  http->add_flag("--progress,!--no-progress", args->progress, "Show the progress line on stderr")->capture_default_str();
  http->callback([args] { run_http_bench(*args); });
}

}  // namespace tide::cli
