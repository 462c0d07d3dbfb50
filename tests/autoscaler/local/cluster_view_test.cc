#include "autoscaler/local/cluster_view.h"

#include <gtest/gtest.h>

#include <limits>

namespace tide::autoscaler {
namespace {

ClusterView example() {
  ClusterView view{.gateway_url = "http://127.0.0.1:8080", .status_url = "http://127.0.0.1:9400", .run_dir = "/tmp/up",
                   .uptime_s = 3725, .pools = {}};
  PoolView pool{.name = "main", .policy = "reactive", .counts = {.desired = 2, .ready = 1, .starting = 1, .draining = 0},
                .replicas = {{.id = 1, .state = ReplicaState::Ready, .url = "http://127.0.0.1:40001", .pid = 11, .age_s = 60, .devices = "", .note = ""},
                             {.id = 2, .state = ReplicaState::Starting, .url = "", .pid = 12, .age_s = 2, .devices = "1", .note = ""}},
                .control = ControllerSnapshot{}};
  PoolSample sample;
  sample.arrival_rate = 3.5;
  sample.in_flight = 9;
  sample.slo_attainment = std::numeric_limits<double>::quiet_NaN();
  pool.control->sample = sample;
  pool.control->changes.push_back({.time_s = 3700, .from = 1, .to = 2, .reason = "in_flight 9.0/replica above target 2"});
  view.pools.push_back(pool);
  return view;
}

TEST(ClusterView, JsonCarriesReplicasSamplesAndDecisions) {
  const auto json = to_json(example());
  EXPECT_EQ(json["gateway"], "http://127.0.0.1:8080");
  const auto& pool = json["pools"][0];
  EXPECT_EQ(pool["desired"], 2);
  EXPECT_EQ(pool["replicas"][1]["state"], "starting");
  EXPECT_EQ(pool["replicas"][1]["devices"], "1");
  EXPECT_EQ(pool["sample"]["arrival_rate"], 3.5);
  EXPECT_TRUE(pool["sample"]["slo_attainment"].is_null());  // NaN is no JSON number
  EXPECT_EQ(pool["changes"][0]["to"], 2);
}

TEST(ClusterView, TerminalViewShowsStateLoadAndReasons) {
  const auto text = render_terminal(example(), 100);
  EXPECT_NE(text.find("up 01:02:05"), std::string::npos) << text;
  EXPECT_NE(text.find("pool main (reactive): 1 ready, 1 starting, 0 draining, want 2"), std::string::npos) << text;
  EXPECT_NE(text.find("3.50 req/s in"), std::string::npos) << text;
  EXPECT_NE(text.find("01:01:40  1 → 2  in_flight 9.0/replica above target 2"), std::string::npos) << text;
  const auto narrow = render_terminal(example(), 40);
  for (std::size_t start = 0, end; (end = narrow.find('\n', start)) != std::string::npos; start = end + 1) {
    if (narrow.compare(start, 4, "    ") == 0) {
      EXPECT_LE(end - start, 42u) << narrow.substr(start, end - start);
    }
  }
}

}  // namespace
}  // namespace tide::autoscaler
