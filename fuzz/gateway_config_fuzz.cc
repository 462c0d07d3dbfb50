// Gateway configs as an operator could write them, through everything that reads a config:
// YAML parsing, typed field parsing, validate(), the router and one balancer per pool picking
// from a small snapshot. Rejecting input with tide::Error is the contract; any other
// exception, crash, hang or sanitizer report is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "gateway/balancer.h"
#include "gateway/gateway_config.h"
#include "gateway/router.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tide::gateway;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const GatewayConfig config = parse_gateway_config(text, "fuzz");
    const Router router(config);
    PoolHealthMap health;
    for (const auto& pool : config.pools) health[pool.name] = {2, size % 3};
    router.route({.model = "m", .split_draw = 0.5, .mirror_draw = 0.01}, health);
    std::vector<EndpointSnapshot> endpoints(3);
    for (std::size_t i = 0; i < endpoints.size(); ++i) endpoints[i].id = "h:" + std::to_string(i + 1);
    for (const auto& pool : config.pools)
      make_balancer(pool.balancer)->pick(endpoints, {.prompt = text.substr(0, 256), .session_key = "s", .random = size});
  } catch (const tide::Error&) {
  }
  return 0;
}
