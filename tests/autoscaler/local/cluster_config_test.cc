#include "autoscaler/local/cluster_config.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "gateway/gateway_config.h"

namespace tide::autoscaler {
namespace {

ClusterConfig parse(const std::string& yaml) { return parse_cluster_config(yaml, "cluster.yaml", "/tmp/run"); }

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(ClusterConfig, DefaultsAndPools) {
  const auto c = parse(R"(
pools:
  - name: main
    model: /models/v2-lite
    devices: [[0, 1], [2, 3]]
    autoscaling: { min_replicas: 1, max_replicas: 2, target: 4 }
  - name: side
)");
  EXPECT_EQ(c.run_dir, "/tmp/run");
  EXPECT_EQ(c.gateway_host, "127.0.0.1");
  EXPECT_EQ(c.gateway_port, 8080);
  ASSERT_EQ(c.pools.size(), 2u);
  EXPECT_EQ(c.pools[0].device_groups, (std::vector<std::vector<int>>{{0, 1}, {2, 3}}));
  ASSERT_TRUE(c.pools[0].scaling);
  EXPECT_EQ(c.pools[0].scaling->max_replicas, 2);
  EXPECT_EQ(c.pools[0].initial_replicas, 1);
  EXPECT_EQ(c.pools[1].model, "demo");
  EXPECT_FALSE(c.pools[1].scaling);
  EXPECT_TRUE(c.pools[1].device_groups.empty());
}

TEST(ClusterConfig, ScaleToZeroStartsEmpty) {
  const auto c = parse("pools:\n  - name: main\n    autoscaling: { min_replicas: 0, max_replicas: 2 }\n");
  EXPECT_EQ(c.pools[0].initial_replicas, 0);
}

TEST(ClusterConfig, GeneratedGatewayConfigPointsAtDiscoveryFiles) {
  const auto c = parse(R"(
discovery_poll: 300ms
gateway:
  listen: { host: 127.0.0.1, port: 0 }
  limits:
    - { key: user, requests_per_second: 5, burst: 10 }
pools:
  - name: main
    gateway: { balancer: prefix_aware }
)");
  EXPECT_EQ(c.gateway_port, 0);
  const auto gateway = gateway::parse_gateway_config(gateway_config_yaml(c));
  ASSERT_EQ(gateway.pools.size(), 1u);
  EXPECT_EQ(gateway.pools[0].name, "main");
  EXPECT_EQ(gateway.pools[0].discovery.kind, gateway::DiscoveryKind::File);
  EXPECT_EQ(gateway.pools[0].discovery.file, discovery_file(c, "main"));
  EXPECT_EQ(gateway.pools[0].discovery.file_poll, std::chrono::milliseconds(300));
  EXPECT_EQ(gateway.pools[0].balancer.kind, gateway::BalancerKind::PrefixAware);
  EXPECT_EQ(gateway.limits.size(), 1u);
}

TEST(ClusterConfig, ErrorsNameTheField) {
  EXPECT_NE(error_of("pools: []").find("cluster.yaml.pools: at least one pool"), std::string::npos) << error_of("pools: []");
  EXPECT_NE(error_of("pools:\n  - model: x\n").find("pools[0].name: required"), std::string::npos);
  EXPECT_NE(error_of("pools:\n  - name: a\n  - name: a\n").find("two pools named a"), std::string::npos);
  EXPECT_NE(error_of("pools:\n  - name: a\n    replica: 2\n").find("replica"), std::string::npos);
  EXPECT_NE(error_of("pools:\n  - name: a\n    devices: [[0], [0]]\n").find("GPU 0 is in two groups"), std::string::npos);
  EXPECT_NE(error_of("pools:\n  - name: a\n    devices: gpu\n").find("devices"), std::string::npos);
  EXPECT_NE(error_of("pools:\n  - name: a\n    serve_args: [--port, '9']\n").find("--port is set by tide up"),
            std::string::npos);
  EXPECT_NE(error_of("pools:\n  - name: a\n    gateway: { replicas: ['1.2.3.4:1'] }\n").find("gateway.replicas: set by tide up"),
            std::string::npos);
  EXPECT_NE(error_of("pools:\n  - name: a\n    devices: [0]\n    autoscaling: { max_replicas: 2 }\n").find("GPU groups"),
            std::string::npos);
  EXPECT_NE(error_of("pools:\n  - name: a\n    replicas: 5\n    autoscaling: { max_replicas: 2 }\n").find("outside"),
            std::string::npos);
  EXPECT_NE(error_of("gateway: { pools: [] }\npools:\n  - name: a\n").find("gateway.pools"), std::string::npos);
  // The gateway's own checks run on what tide up makes of it.
  EXPECT_NE(error_of("pools:\n  - name: a\n    gateway: { balancer: fastest }\n").find("balancer"), std::string::npos);
  EXPECT_NE(error_of("pools: [").find("not valid YAML"), std::string::npos);
  EXPECT_NE(error_of("- a\n- b\n").find("mapping"), std::string::npos);
}

TEST(ClusterConfig, TheDemoClusterParses) {
  const auto c = default_cluster_config("/tmp/run");
  ASSERT_EQ(c.pools.size(), 1u);
  EXPECT_EQ(c.pools[0].model, "demo");
  ASSERT_TRUE(c.pools[0].scaling);
  EXPECT_EQ(c.pools[0].scaling->max_replicas, 3);
}

}  // namespace
}  // namespace tide::autoscaler
