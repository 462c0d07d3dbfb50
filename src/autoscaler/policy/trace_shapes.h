#pragma once
// The shipped arrival traces (share/autoscaler/traces/), generated here so they can be
// regenerated bit for bit: `tide autoscale trace NAME --out FILE`.
//   tidal: a day of interactive load, a morning and an evening hump over a night trough
//          (peak 80 req/s, trough 8 req/s, ±8% noise per minute).
//   spike: 8 req/s, then a sudden 10× spike to 80 req/s for 30 minutes, then 8 req/s again.
//   ramp:  8 req/s rising to 80 req/s over an hour (a launch), then held.
#include <string>
#include <string_view>
#include <vector>

#include "autoscaler/policy/trace.h"

namespace tide::autoscaler {

const std::vector<std::string>& trace_shape_names();
// Throws tide::Error for an unknown name.
Trace make_trace(std::string_view shape);
// The comment lines that head the shape's CSV (what it is, how it was made).
std::vector<std::string> trace_shape_comment(std::string_view shape);

}  // namespace tide::autoscaler
