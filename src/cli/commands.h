#pragma once
// Each subcommand registers its options and handler on the `tide` app. The CLI only parses
// arguments and wires layers together; the work happens in the libraries.
#include <CLI/CLI.hpp>

namespace tide::cli {

void register_generate(CLI::App& app);
void register_logits(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_bench(CLI::App& app);
void register_serve(CLI::App& app);
void register_gateway(CLI::App& app);
void register_up(CLI::App& app);
void register_autoscale(CLI::App& app);
void register_autoscale_run(CLI::App& autoscale);
void register_bench_serve(CLI::App& bench);
void register_bench_http(CLI::App& bench);

}  // namespace tide::cli
