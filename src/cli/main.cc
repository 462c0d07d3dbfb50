// tide: serve DeepSeek models. Each subcommand lives in its own file; this one only dispatches
// and turns errors into messages and exit codes.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "common/log.h"

int main(int argc, char** argv) {
  CLI::App app{"Tide: DeepSeek inference (MLA + MoE) for the cloud.\n"
               "Run `tide <command> --help` for each command's options."};
  app.require_subcommand(1);
  app.fallthrough();  // global options (--log-level) also after the command: `tide serve --log-level debug`
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug, info, warn or error")->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.parse_complete_callback([&] { tide::init_logging(log_level); });

  tide::cli::register_generate(app);
  tide::cli::register_logits(app);
  tide::cli::register_tokenize(app);
  tide::cli::register_bench(app);
  tide::cli::register_serve(app);
  tide::cli::register_gateway(app);
  tide::cli::register_up(app);
  tide::cli::register_autoscale(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const tide::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory\n";
    return 1;
  }  catch (const std::exception& e) {  // e.g. a filesystem error on a path given on the command line
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
