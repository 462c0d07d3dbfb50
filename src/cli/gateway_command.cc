// tide gateway: the front door for pools of replicas (docs/gateway.md).
//
// Signals: SIGHUP reloads the configuration (so does a change to the file, checked every
// second); a configuration that does not parse or validate is refused with its error logged
// and the running one stays. SIGTERM or SIGINT drains: /ready answers 503, new requests get
// 503, requests in flight finish for up to --drain-timeout, then the process exits 0.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <pthread.h>

#include "cli/commands.h"
#include "common/error.h"
#include "common/metrics.h"
#include "gateway/gateway_config.h"
#include "gateway/runtime/gateway.h"

namespace tide::cli {
namespace {

struct GatewayArgs {
  std::string config;
  std::string host;
  int port = -1;
  double drain_timeout_s = 30;
  bool no_access_log = false;
  int threads = 0;
};

std::filesystem::file_time_type mtime_of(const std::filesystem::path& path) {
  std::error_code ec;
  auto t = std::filesystem::last_write_time(path, ec);
  return ec ? std::filesystem::file_time_type{} : t;
}

gateway::GatewayConfig load(const GatewayArgs& args) {
  auto config = gateway::load_gateway_config(args.config);
  if (!args.host.empty()) config.listen.host = args.host;
  if (args.port >= 0) config.listen.port = static_cast<uint16_t>(args.port);
  return config;
}

void run_gateway(const GatewayArgs& args) {
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  MetricsRegistry metrics;
  gateway::Gateway gw(load(args), metrics, !args.no_access_log, args.threads);
  gw.start();
  std::cout << "tide gateway: listening on http://" << (args.host.empty() ? "configured host" : args.host) << ":"
            << gw.port() << std::endl;

  auto reload = [&](const char* why) {
    try {
      gw.reload(load(args));
      spdlog::info("configuration reloaded ({})", why);
    } catch (const std::exception& e) {
      gw.reload_refused();
      spdlog::error("configuration reload refused ({}); the running configuration stays: {}", why, e.what());
    }
  };
  auto seen = mtime_of(args.config);
  while (true) {
    const timespec poll{1, 0};
    const int signal = sigtimedwait(&signals, nullptr, &poll);
    if (signal == SIGHUP) {
      seen = mtime_of(args.config);
      reload("SIGHUP");
      continue;
    }
    if (signal == SIGINT || signal == SIGTERM) {
      spdlog::info("{}: draining; {} request(s) in flight, up to {:.0f} s", strsignal(signal), gw.in_flight(),
                   args.drain_timeout_s);
      break;
    }
    if (const auto now = mtime_of(args.config); now != seen) {
      seen = now;
      reload("file changed");
    }
  }
  gw.begin_drain();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t(args.drain_timeout_s * 1000));
  while (gw.in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (gw.in_flight() > 0) spdlog::warn("drain timeout: closing {} request(s) still in flight", gw.in_flight());
  gw.shutdown(std::chrono::seconds(1));
  spdlog::info("stopped");
}

}  // namespace

void register_gateway(CLI::App& app) {
  auto args = std::make_shared<GatewayArgs>();
  auto* cmd = app.add_subcommand(
      "gateway",
      "OpenAI-compatible front door for pools of replicas: rate limits, routing, retries, failover, mirroring "
      "(see docs/gateway.md)");
  cmd->add_option("--config", args->config, "Gateway configuration (YAML); reloaded on SIGHUP or when it changes")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--host", args->host, "Listen address, overriding the config's listen.host");
  cmd->add_option("--port", args->port, "Listen port, overriding the config's listen.port; 0 picks a free one")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--drain-timeout", args->drain_timeout_s, "Seconds requests in flight may take to finish on SIGTERM")
      ->check(CLI::Range(0.0, 86400.0))
      ->capture_default_str();
  cmd->add_flag("--no-access-log", args->no_access_log, "Do not log a line per request");
  cmd->add_option("--threads", args->threads,
                  "io threads (0: one per core, at least 2). 1 matches one nginx worker; with Redis limits keep "
                  "more, since each limit check waits on Redis")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->callback([args] { run_gateway(*args); });
}

}  // namespace tide::cli
