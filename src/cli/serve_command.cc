// tide serve: the OpenAI-compatible HTTP server over the continuous-batching engine.
//
// Shutdown: SIGTERM or SIGINT starts draining (/ready answers 503, new generation requests get
// 503) while requests in flight finish; after --drain-timeout the rest are cancelled. Then the
// engine and the HTTP server stop and the process exits 0.
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <pthread.h>

#include "cli/commands.h"
#include "cli/model_source.h"
#include "common/error.h"
#include "common/metrics.h"
#include "engine/engine.h"
#include "model/model.h"
#include "server/api_server.h"

namespace tide::cli {
namespace {

struct ServeArgs {
  std::string model = "demo";
  std::string device = "auto";
  std::string quantization = "none";
  std::string fp8_weights = "fp8";
  std::string load_format = "auto";
  std::string tokenizer;
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string served_model_name;
  std::string kv_cache_memory = "auto";
  double gpu_memory_utilization = 0.9;
  int max_num_seqs = SchedulerConfig{}.max_num_seqs;
  int64_t max_batched_tokens = SchedulerConfig{}.max_batched_tokens;
  int max_waiting_requests = EngineConfig{}.max_waiting_requests;
  int max_prompt_tokens = 0;
  int max_tokens_cap = 0;
  bool no_prefix_caching = false;
  double drain_timeout_s = 30;
  int threads = 2;
  std::string max_body_bytes = "16MiB";
  int max_connections = 1024;
  double request_read_timeout_s = 30;
  double keep_alive_timeout_s = 60;
  std::string reasoning_parser = "auto";
};

// "2GiB", "512MiB", "1.5GB", "1048576": binary (KiB, MiB, GiB) or decimal (KB, MB, GB) units.
std::size_t parse_bytes(const std::string& option, const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    fail("{} {}: expected a size like 2GiB, 512MiB or 1000000", option, text);
  }
  std::string unit = text.substr(used);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},         {"B", 1},         {"KiB", 1024.0}, {"KB", 1e3}, {"MiB", 1048576.0},
      {"MB", 1e6},     {"GiB", 1073741824.0}, {"GB", 1e9},  {"TiB", 1099511627776.0}};
  for (const auto& [name, scale] : kUnits)
    if (unit == name) {
      if (!(value > 0) || value * scale > 1e15) fail("{} {}: must be a positive size", option, text);
      return static_cast<std::size_t>(value * scale);
    }
  fail("{} {}: unknown unit '{}' (use B, KiB, MiB, GiB, TiB, KB, MB or GB)", option, text, unit);
}

// --kv-cache-memory auto: on a GPU, what --gpu-memory-utilization leaves beside the weights; on
// the CPU, 256 MiB. An explicit size is taken as it is.
std::size_t kv_cache_bytes(const ServeArgs& args, const Model& model) {
  if (args.kv_cache_memory != "auto") return parse_bytes("--kv-cache-memory", args.kv_cache_memory);
  const std::size_t on_device = model.device_memory_for_cache(args.gpu_memory_utilization);
  if (on_device > 0) return on_device;
  if (model.device_description() != "cpu")
    fail("--kv-cache-memory auto: --gpu-memory-utilization {} leaves no GPU memory for the KV cache beside the "
         "weights; raise it, or give --kv-cache-memory",
         args.gpu_memory_utilization);
  return std::size_t{256} << 20;
}

std::string default_model_name(const std::string& model) {
  if (is_demo(model)) return "demo";
  std::filesystem::path path = std::filesystem::path(model).lexically_normal();
  if (path.filename().empty()) path = path.parent_path();  // "models/foo/" → "foo"
  return path.filename().string();
}

void run_serve(const ServeArgs& args) {
  // Block the shutdown signals before any thread starts, so every thread inherits the mask and
  // only the sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that vanishes mid-write is an error code, not a crash

  const auto dir = resolve_model(args.model);
  if (is_demo(args.model)) spdlog::warn("demo model: random weights, the generated text is meaningless");

  const auto tokenizer_dir = resolve_tokenizer(dir, args.tokenizer);
  auto model = load_model_on(dir, args.device, args.quantization, args.load_format, args.fp8_weights);
  EngineConfig engine_config;
  engine_config.kv_cache_bytes = kv_cache_bytes(args, *model);
  engine_config.prefix_caching = !args.no_prefix_caching;
  engine_config.scheduler.max_num_seqs = args.max_num_seqs;
  engine_config.scheduler.max_batched_tokens = args.max_batched_tokens;
  engine_config.max_waiting_requests = args.max_waiting_requests;
  engine_config.max_prompt_tokens = args.max_prompt_tokens;
  engine_config.max_tokens_cap = args.max_tokens_cap;

  auto tokenizer = std::make_shared<const tokenizer::Tokenizer>(tokenizer::Tokenizer::from_directory(tokenizer_dir));
  if (const int32_t words = tokenizer->vocab_size(); words > model->config().vocab_size)
    spdlog::warn("the tokenizer in {} knows {} tokens, the model {}: prompts it tokenizes to ids past {} get 400",
                 tokenizer_dir.string(), words, model->config().vocab_size, model->config().vocab_size - 1);
  std::optional<ChatTemplate> chat_template;
  try {
    chat_template = ChatTemplate::from_tokenizer_config(tokenizer_dir / "tokenizer_config.json");
  } catch (const Error& e) {
    spdlog::warn("no chat template ({}); /v1/chat/completions will answer 400", e.what());
  }

  MetricsRegistry metrics;
  Engine engine(std::move(model), tokenizer, engine_config, metrics);
  engine.start();

  server::ServerConfig config;
  config.served_model_name = args.served_model_name.empty() ? default_model_name(args.model) : args.served_model_name;
  config.http.host = args.host;
  config.http.port = static_cast<uint16_t>(args.port);
  config.http.threads = args.threads;
  config.http.max_body_bytes = parse_bytes("--max-body-bytes", args.max_body_bytes);
  config.http.max_connections = args.max_connections;
  config.http.read_timeout = std::chrono::milliseconds(static_cast<int64_t>(args.request_read_timeout_s * 1000));
  config.http.idle_timeout = std::chrono::milliseconds(static_cast<int64_t>(args.keep_alive_timeout_s * 1000));
  config.reasoning = server::parse_reasoning_mode(args.reasoning_parser);
  config.max_tokens_cap = args.max_tokens_cap;

  server::EngineService service(engine);
  server::PromptBuilder prompts(*tokenizer, std::move(chat_template));
  server::ApiServer api(config, service, prompts, {engine.max_context()}, metrics);
  api.start();
  spdlog::info("reasoning parser: {}", api.reasoning_enabled() ? "deepseek-r1 (reasoning_content)" : "off");
  std::cout << "tide serve: listening on http://" << args.host << ":" << api.port() << " (model "
            << config.served_model_name << ")" << std::endl;

  int signal = 0;
  sigwait(&signals, &signal);
  spdlog::info("{}: draining; finishing {} request(s) in flight for up to {:.0f} s", strsignal(signal), api.in_flight(),
               args.drain_timeout_s);
  api.begin_drain();
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(args.drain_timeout_s * 1000));
  if (const int cancelled = api.drain(timeout, std::chrono::seconds(5)); cancelled > 0)
    spdlog::warn("drain timeout: cancelled {} request(s)", cancelled);
  engine.stop();
  api.stop(std::chrono::seconds(2));
  spdlog::info("stopped");
}

}  // namespace

void register_serve(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "Serve the OpenAI-compatible HTTP API (see docs/api.md)");
  cmd->add_option("--model", args->model, "Model directory, or 'demo' for the built-in random-weight model")
      ->capture_default_str();
  add_device_option(*cmd, args->device);
  add_quantization_option(*cmd, args->quantization);
  add_fp8_weights_option(*cmd, args->fp8_weights);
  add_load_format_option(*cmd, args->load_format);
  cmd->add_option("--tokenizer", args->tokenizer,
                  "Directory with the tokenizer.json to serve with (default: the model's own); demo: DeepSeek-V3's. "
                  "For --load-format dummy on a config.json alone");
  cmd->add_option("--host", args->host, "Address to listen on (0.0.0.0 for every interface)")->capture_default_str();
  cmd->add_option("--port", args->port, "Port to listen on; 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--served-model-name", args->served_model_name,
                  "The model name clients send (default: the model directory's name, or 'demo')");
  cmd->add_option("--kv-cache-memory", args->kv_cache_memory,
                  "Memory for the paged KV cache, e.g. 2GiB; auto: on a GPU what --gpu-memory-utilization leaves "
                  "beside the weights, on the CPU 256MiB")
      ->capture_default_str();
  cmd->add_option("--gpu-memory-utilization", args->gpu_memory_utilization,
                  "Share of the GPU's memory the server may use in all (weights, KV cache, activations) when "
                  "--kv-cache-memory is auto")
      ->check(CLI::Range(0.05, 1.0))
      ->capture_default_str();
  cmd->add_option("--max-num-seqs", args->max_num_seqs, "Most sequences running at once")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--max-batched-tokens", args->max_batched_tokens, "Token budget of one engine step")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24))
      ->capture_default_str();
  cmd->add_option("--max-waiting-requests", args->max_waiting_requests, "Queue length beyond which requests get 429")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  cmd->add_option("--max-prompt-tokens", args->max_prompt_tokens, "Longest prompt accepted (0: the context length)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-tokens-cap", args->max_tokens_cap, "Largest max_tokens accepted (0: the context length)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-prefix-caching", args->no_prefix_caching, "Do not reuse the KV cache of shared prompt prefixes");
  cmd->add_option("--drain-timeout", args->drain_timeout_s,
                  "Seconds to let requests in flight finish on SIGTERM/SIGINT before cancelling them")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "HTTP io threads (and as many prompt-preparation threads)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", args->max_body_bytes, "Largest request body (larger: 413)")->capture_default_str();
  cmd->add_option("--max-connections", args->max_connections, "Most open connections (more: 503)")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd->add_option("--request-read-timeout", args->request_read_timeout_s,
                  "Seconds a client has to send a whole request from its first byte; slower connections are "
                  "closed (slow-loris clients)")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cmd->add_option("--keep-alive-timeout", args->keep_alive_timeout_s,
                  "Seconds an idle keep-alive connection is kept open (keep it above a gateway's or load "
                  "balancer's own idle timeout for its upstream connections)")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  cmd->add_option("--reasoning-parser", args->reasoning_parser,
                  "Split <think> reasoning into reasoning_content: auto (when the tokenizer has </think>), "
                  "deepseek-r1, none")
      ->check(CLI::IsMember({"auto", "deepseek-r1", "none"}))
      ->capture_default_str();
  cmd->callback([args] { run_serve(*args); });
}

}  // namespace tide::cli
