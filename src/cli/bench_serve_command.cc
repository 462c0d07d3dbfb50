// tide bench serve: an open-loop load generator for any OpenAI-compatible server (Tide, vLLM,
// SGLang), reporting TTFT, TPOT, ITL and end-to-end latency percentiles, throughput and
// goodput. Options are parsed here; the work is in src/bench.
#include <spdlog/spdlog.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>

#include "bench/arrival.h"
#include "bench/base_url.h"
#include "bench/client_runner.h"
#include "bench/openai_protocol.h"
#include "bench/progress.h"
#include "bench/report.h"
#include "bench/workload.h"
#include "cli/commands.h"
#include "cli/json_output.h"
#include "common/error.h"
#include "common/http/client.h"

namespace tide::cli {
namespace {

struct ServeBenchArgs {
  std::string url = "http://127.0.0.1:8000";
  bool allow_remote = false;
  std::string endpoint = "completions";
  std::string model;
  int num_requests = 100;
  std::string request_rate = "inf";
  std::string arrival = "poisson";
  int concurrency = 0;
  std::string prompt_len = "fixed:128";
  std::string output_len = "fixed:128";
  int shared_prefix_groups = 0;
  int shared_prefix_len = 0;
  bool prompt_ids = false;
  std::vector<int> prompt_id_range = {1000, 30000};
  bool stream = true;
  double temperature = 0;
  uint64_t seed = 0;
  double slo_ttft_ms = 0;
  double slo_tpot_ms = 0;
  std::string json_path;
  double timeout_s = 600;
  double duration_s = 0;
};

double parse_rate(const std::string& text) {
  if (text == "inf") return std::numeric_limits<double>::infinity();
  std::size_t used = 0;
  double rate = 0;
  try {
    rate = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(rate > 0) || std::isinf(rate))
    fail("--request-rate '{}': give requests per second (> 0) or inf", text);
  return rate;
}

std::string ask_model(const bench::BaseUrl& base) {
  http::Client client(base.host, base.port, std::chrono::seconds(10));
  const auto response = client.get("/v1/models");
  if (response.result_int() != 200)
    fail("GET {}/v1/models answered {}; name the model with --model", base.text(), response.result_int());
  return bench::first_model_id(response.body());
}

void run_serve_bench(const ServeBenchArgs& args, bool have_slo_ttft, bool have_slo_tpot) {
  const bench::BaseUrl base = bench::parse_base_url(args.url, args.allow_remote);
  const double rate = parse_rate(args.request_rate);
  bench::Target target;
  target.host = base.host;
  target.port = base.port;
  target.endpoint = bench::parse_endpoint(args.endpoint);
  target.stream = args.stream;
  target.temperature = args.temperature;
  target.timeout_s = args.timeout_s;
  if (args.prompt_ids && target.endpoint != bench::Endpoint::completions)
    fail("--prompt-ids needs --endpoint completions: chat messages are text");

  bench::WorkloadConfig workload_config;
  workload_config.num_requests = args.num_requests;
  workload_config.prompt_len = bench::parse_length_spec(args.prompt_len, "--prompt-len");
  workload_config.output_len = bench::parse_length_spec(args.output_len, "--output-len");
  workload_config.shared_prefix_groups = args.shared_prefix_groups;
  workload_config.shared_prefix_len = args.shared_prefix_len;
  workload_config.prompt_ids = args.prompt_ids;
  workload_config.id_low = args.prompt_id_range[0];
  workload_config.id_high = args.prompt_id_range[1];
  workload_config.seed = args.seed;
  const auto workload = bench::build_workload(workload_config);
  const auto offsets =
      bench::arrival_offsets({rate, bench::parse_arrival_process(args.arrival), args.seed}, args.num_requests);

  target.model = args.model.empty() ? ask_model(base) : args.model;
  spdlog::info("sending {} requests to {}{} (model {})", args.num_requests, base.text(),
               bench::endpoint_path(target.endpoint), target.model);

  bench::Counters counters;
  bench::RunResult run;
  {
    bench::ProgressLine progress(counters, args.num_requests);
    run = bench::run_requests(target, workload, offsets, {args.concurrency, args.duration_s}, counters);
  }

  const nlohmann::json config = {
      {"url", base.text()},
      {"endpoint", args.endpoint},
      {"model", target.model},
      {"num_requests", args.num_requests},
      {"request_rate", std::isinf(rate) ? nlohmann::json("inf") : nlohmann::json(rate)},
      {"arrival", args.arrival},
      {"concurrency", args.concurrency},
      {"prompt_len", workload_config.prompt_len.text()},
      {"output_len", workload_config.output_len.text()},
      {"shared_prefix_groups", args.shared_prefix_groups},
      {"shared_prefix_len", args.shared_prefix_len},
      {"prompt_ids", args.prompt_ids},
      {"stream", args.stream},
      {"temperature", args.temperature},
      {"seed", args.seed},
      {"timeout_s", args.timeout_s},
      {"duration_s", args.duration_s}};
  bench::Slo slo;
  if (have_slo_ttft) slo.ttft_ms = args.slo_ttft_ms;
  if (have_slo_tpot) slo.tpot_ms = args.slo_tpot_ms;
  const bench::Report report = bench::make_report(run, workload, slo, config);
  for (const auto& [kind, example] : report.error_examples) spdlog::warn("{}: {}", kind, example);

  std::cout << fmt::format("{}{} (model {}): {} arrivals at {} req/s{}, prompt {}{}, output {}, {}, {}\n", base.text(),
                           bench::endpoint_path(target.endpoint), target.model, args.arrival, args.request_rate,
                           args.concurrency ? fmt::format(", at most {} in flight", args.concurrency) : "",
                           workload_config.prompt_len.text(),
                           args.shared_prefix_groups
                               ? fmt::format(" after a {}-token prefix shared in {} groups", args.shared_prefix_len,
                                             args.shared_prefix_groups)
                               : "",
                           workload_config.output_len.text(), args.stream ? "streamed" : "not streamed",
                           args.temperature > 0 ? fmt::format("temperature {}", args.temperature) : "greedy");
  std::cout << bench::report_table(report);
  const nlohmann::json json = bench::report_json(report);
  emit_json(json, args.json_path);
}

}  // namespace

void register_bench_serve(CLI::App& bench) {
  auto args = std::make_shared<ServeBenchArgs>();
  auto* serve = bench.add_subcommand(
      "serve", "Load an OpenAI-compatible server (Tide, vLLM, SGLang) and report TTFT, TPOT, ITL, throughput, goodput");
  serve->footer(
      "Requests arrive on an open-loop schedule (--request-rate, --arrival) whatever the server's speed, so\n"
      "overload shows as growing latency, not as a slower client. --concurrency C with the default rate inf\n"
      "is a closed loop of C users.\n"
      "TTFT: time to the first chunk carrying text. ITL: gaps between such chunks. TPOT: (e2e - TTFT) /\n"
      "(output tokens - 1), per request. Goodput: requests/s that met every --slo-* given.\n\n"
      "Examples:\n"
      "  tide bench serve --url http://127.0.0.1:8000 --num-requests 200 --request-rate 4 \\\n"
      "      --prompt-len uniform:64,512 --output-len fixed:128 --slo-ttft-ms 500 --slo-tpot-ms 50\n"
      "  tide bench serve --concurrency 16 --prompt-len longtail:256,4096 --output-len longtail:128,1024\n"
      "  tide bench serve --shared-prefix-groups 4 --shared-prefix-len 1024 --prompt-len fixed:64\n"
      "  tide bench serve --prompt-ids --prompt-id-range 1000,30000 --prompt-len fixed:2048 --output-len fixed:1");

  serve->add_option("--url", args->url, "Server base URL, http://HOST:PORT")->capture_default_str();
  serve->add_flag("--allow-remote", args->allow_remote,
                  "Allow a non-loopback --url (refused by default so a stray run loads no one else's server)");
  serve->add_option("--endpoint", args->endpoint, "completions (/v1/completions) or chat (/v1/chat/completions)")
      ->check(CLI::IsMember({"completions", "chat"}))
      ->capture_default_str();
  serve->add_option("--model", args->model, "Model name sent in requests (default: the first of GET /v1/models)");
  serve->add_option("--num-requests", args->num_requests, "Requests to send")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  serve->add_option("--request-rate", args->request_rate, "Mean arrivals per second, or inf to send all at once")
      ->capture_default_str();
  serve->add_option("--arrival", args->arrival, "poisson (exponential gaps) or constant (even gaps)")
      ->check(CLI::IsMember({"poisson", "constant"}))
      ->capture_default_str();
  serve->add_option("--concurrency", args->concurrency, "Most requests in flight (0: no cap)")
      ->check(CLI::Range(0, 100'000))
      ->capture_default_str();
  serve->add_option("--prompt-len", args->prompt_len,
                    "Prompt tokens: fixed:N, uniform:A,B or longtail:MEAN,MAX (lognormal clipped to MAX); after any "
                    "shared prefix")
      ->capture_default_str();
  serve->add_option("--output-len", args->output_len,
                    "Output tokens, same forms; sent as max_tokens with ignore_eos so the length is exact")
      ->capture_default_str();
  serve->add_option("--shared-prefix-groups", args->shared_prefix_groups,
                    "Spread requests over G groups whose prompts share a prefix (prefix caching)")
      ->check(CLI::Range(0, 1'000'000));
  serve->add_option("--shared-prefix-len", args->shared_prefix_len, "Tokens in each group's shared prefix")
      ->check(CLI::Range(0, 1'000'000));
  serve->add_flag("--prompt-ids", args->prompt_ids,
                  "Send prompts as token-id arrays (completions only): exact lengths instead of ~1 token per word");
  serve->add_option("--prompt-id-range", args->prompt_id_range,
                    "LOW,HIGH: token ids drawn for --prompt-ids; keep inside the model's vocabulary")
      ->delimiter(',')
      ->expected(2)
      ->capture_default_str();
  serve->add_flag("--stream,!--no-stream", args->stream,
                  "Stream with SSE (default); without it only end-to-end latency means much (TTFT = e2e)");
  serve->add_option("--temperature", args->temperature,
                    "Sampling temperature of every request: 0 (greedy) as vLLM's and SGLang's serving benchmarks "
                    "send, so runs compare; above 0 the server samples")
      ->check(CLI::Range(0.0, 2.0))
      ->capture_default_str();
  serve->add_option("--seed", args->seed, "Seed for lengths, prompts and arrival times")->capture_default_str();
  auto* slo_ttft = serve->add_option("--slo-ttft-ms", args->slo_ttft_ms, "Goodput SLO on time to first token")
                       ->check(CLI::PositiveNumber);
  auto* slo_tpot = serve->add_option("--slo-tpot-ms", args->slo_tpot_ms, "Goodput SLO on time per output token")
                       ->check(CLI::PositiveNumber);
  serve->add_option("--json", args->json_path, "Write the JSON report here (default: print it after the table)");
  serve->add_option("--timeout-s", args->timeout_s, "Give up on a request after this many seconds")
      ->check(CLI::Range(0.001, 86400.0))
      ->capture_default_str();
  serve->add_option("--duration-s", args->duration_s,
                    "Stop sending after this many seconds (0: no limit); requests in flight still finish, "
                    "each within --timeout-s")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  serve->callback([args, slo_ttft, slo_tpot] { run_serve_bench(*args, slo_ttft->count() > 0, slo_tpot->count() > 0); });
}

}  // namespace tide::cli
