// tide up: the whole system on one machine — a gateway, replicas as processes, and the
// autoscaler — with a live view in the terminal. Ctrl-C drains the replicas and stops
// everything. Without --config: the demo model on the CPU, scaling between 1 and 3 replicas.
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <iostream>

#include "autoscaler/local/local_cluster.h"
#include "cli/commands.h"
#include "cli/model_source.h"
#include "common/error.h"

namespace tide::cli {
namespace {

struct UpArgs {
  std::string config;
  std::string run_dir;
  bool no_ui = false;
};

std::size_t terminal_width() {
  winsize size{};
  return ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 20 ? size.ws_col : 100;
}

void run_up(const UpArgs& args) {
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts: only the wait below takes them
  std::signal(SIGPIPE, SIG_IGN);

  const std::filesystem::path run_dir = args.run_dir.empty() ? tide_home() / "up" : std::filesystem::path(args.run_dir);
  autoscaler::ClusterConfig config = args.config.empty() ? autoscaler::default_cluster_config(run_dir)
                                                         : autoscaler::load_cluster_config(args.config, run_dir);
  // The demo model is made once here, not by replicas racing to create it.
  for (auto& pool : config.pools)
    if (is_demo(pool.model)) pool.model = resolve_model(pool.model).string();
  std::filesystem::create_directories(config.run_dir);

  const bool ui = !args.no_ui && isatty(STDOUT_FILENO);
  if (ui) {
    // The screen belongs to the view; the log goes to a file beside the replicas' logs.
    const auto log_path = (config.run_dir / "tide-up.log").string();
    auto logger = spdlog::basic_logger_mt("tide-up", log_path);
    logger->set_level(spdlog::default_logger()->level());
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }

  autoscaler::LocalCluster cluster(std::move(config), std::filesystem::read_symlink("/proc/self/exe").string());
  cluster.start();
  const auto first = cluster.view();
  std::cout << "tide up: gateway listening on " << first.gateway_url << "; status at " << first.status_url
            << "/status" << std::endl;

  int signal = 0;
  for (;;) {
    if (ui) std::cout << "\x1b[H\x1b[2J" << autoscaler::render_terminal(cluster.view(), terminal_width()) << std::flush;
    if (const auto failure = cluster.gateway_failure(); !failure.empty()) {
      cluster.stop();
      throw Error(failure);
    }
    const timespec tick{1, 0};
    signal = sigtimedwait(&signals, nullptr, &tick);
    if (signal > 0) break;
  }
  std::cout << (ui ? "\n" : "") << "tide up: " << strsignal(signal) << "; draining replicas and stopping" << std::endl;
  spdlog::info("{}: draining replicas and stopping", strsignal(signal));
  cluster.stop();
  std::cout << "tide up: stopped" << std::endl;
}

}  // namespace

void register_up(CLI::App& app) {
  auto args = std::make_shared<UpArgs>();
  auto* cmd = app.add_subcommand(
      "up",
      "Run the whole system on this machine: a gateway, replicas of the model as processes, and the autoscaler.\n"
      "Without --config: the demo model on the CPU, 1 to 3 replicas. See docs/tide-up.md for the configuration.\n"
      "Ctrl-C drains every replica (requests in flight finish) and stops.");
  cmd->add_option("--config", args->config, "Cluster YAML: gateway, pools (model, devices, autoscaling)")->check(CLI::ExistingFile);
  cmd->add_option("--run-dir", args->run_dir, "Where logs, discovery files and the generated gateway config go (default $TIDE_HOME/up)");
  cmd->add_flag("--no-ui", args->no_ui, "Print log lines instead of the live view (the default when stdout is not a terminal)");
  cmd->callback([args] { run_up(*args); });
}

}  // namespace tide::cli
