// Arrival traces as anyone could hand to `tide autoscale simulate`: CSV parsing, then the
// summaries the report takes from a trace. Rejecting input with tide::Error is the contract;
// any other exception, crash, hang or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "autoscaler/policy/trace.h"
#include "common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const tide::autoscaler::Trace trace = tide::autoscaler::parse_trace(text, "fuzz");
    (void)trace.peak_rps();
    (void)trace.mean_rps();
  } catch (const tide::Error&) {
  }
  return 0;
}
