// `tide bench engine` without the rest of the CLI: the same options and output, for GPU machines
// that build the cuda-kernels preset (no server dependencies). See src/bench/engine/engine_bench.h.
#include <iostream>

#include "bench/engine/engine_bench.h"
#include "common/error_type.h"

int main(int argc, char** argv) {
  CLI::App app{"Step-level throughput of a model on the GPU against its rooflines (same as `tide bench engine`)"};
  tide::bench::EngineBenchOptions options;
  tide::bench::add_engine_bench_options(app, options);
  CLI11_PARSE(app, argc, argv);
  try {
    tide::bench::run_engine_bench(options);
  } catch (const tide::Error& e) {
    std::cerr << "\nerror: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
