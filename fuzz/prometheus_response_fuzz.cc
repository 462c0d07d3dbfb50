// A Prometheus query answer is input from the network: whatever it holds,
// parse_prometheus_response either returns a value (or none) or throws tide::Error, nothing else
// (no other exception, crash or sanitizer report).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "autoscaler/signals/prometheus_source.h"
#include "common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tide::autoscaler::signals::parse_prometheus_response({reinterpret_cast<const char*>(data), size});
  } catch (const tide::Error&) {
  }
  return 0;
}
