// A replica's /metrics page is untrusted input: whatever it holds, parse_replica_metrics must
// return (no exception, crash or sanitizer report), and every signal it returns must be usable
// by the balancers as is: finite, not negative, a KV usage ratio within 0..1.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/replica_metrics.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tide::gateway;
  const ReplicaLoad load = parse_replica_metrics({reinterpret_cast<const char*>(data), size});
  for (const auto& v : {load.running, load.waiting, load.kv_usage, load.prefix_queries, load.prefix_hits})
    if (v && !(std::isfinite(*v) && *v >= 0)) __builtin_trap();
  if (load.kv_usage && *load.kv_usage > 1) __builtin_trap();
  EndpointSnapshot endpoint;
  apply_replica_load(load, endpoint);
  return 0;
}
