#include "gateway/router.h"

#include <gtest/gtest.h>

#include <random>

namespace tide::gateway {
namespace {

const GatewayConfig kConfig = parse_gateway_config(R"(
pools:
  - {name: main, replicas: [h:1], backup: spare, failover_threshold: 0.5, fallback: tiny}
  - {name: spare, replicas: [h:2], failover_threshold: 0.3}
  - {name: tiny, replicas: [h:3]}
  - {name: canary, replicas: [h:4]}
  - {name: shadow, replicas: [h:5]}
routes:
  - name: beta
    match: {headers: {x-tenant: beta}}
    pool: spare
  - name: r1
    match: {model: deepseek-r1}
    split: [{pool: main, weight: 90}, {pool: canary, weight: 10}]
    mirror: {pool: shadow, percent: 5}
  - name: rest
    pool: main
)");

PoolHealthMap all_up() {
  PoolHealthMap h;
  for (const auto& p : kConfig.pools) h[p.name] = {10, 10};
  return h;
}

TEST(Router, HeaderRoutesThenModelRoutesThenTheCatchAll) {
  const Router router(kConfig);
  const std::pair<std::string_view, std::string_view> beta[] = {{"X-Tenant", "beta"}};
  const std::pair<std::string_view, std::string_view> gamma[] = {{"x-tenant", "gamma"}};
  EXPECT_EQ(router.route({.model = "deepseek-r1", .headers = beta}, all_up()).route, "beta");
  EXPECT_EQ(router.route({.model = "deepseek-r1", .headers = gamma}, all_up()).route, "r1");
  const RouteDecision d = router.route({.model = "other"}, all_up());
  EXPECT_EQ(d.route, "rest");
  EXPECT_EQ(d.pool, "main");
  EXPECT_EQ(d.reason, RouteReason::Primary);
}

TEST(Router, NoMatchingRouteIsNoRoute) {
  GatewayConfig c = kConfig;
  c.routes.pop_back();
  const RouteDecision d = Router(c).route({.model = "other"}, all_up());
  EXPECT_EQ(d.reason, RouteReason::NoRoute);
  EXPECT_TRUE(d.pool.empty());
}

TEST(Router, WeightedSplitLandsWithinTwoPointsOverTwoThousandDraws) {
  const Router router(kConfig);
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  int canary = 0;
  for (int i = 0; i < 2000; ++i)
    canary += router.route({.model = "deepseek-r1", .split_draw = uniform(rng), .mirror_draw = 1}, all_up()).pool ==
              "canary";
  EXPECT_NEAR(canary / 2000.0, 0.10, 0.02);
  // The draw maps deterministically onto the weights.
  EXPECT_EQ(router.route({.model = "deepseek-r1", .split_draw = 0.8999}, all_up()).pool, "main");
  EXPECT_EQ(router.route({.model = "deepseek-r1", .split_draw = 0.9}, all_up()).pool, "canary");
  EXPECT_EQ(router.route({.model = "deepseek-r1", .split_draw = 1.0}, all_up()).pool, "canary");
}

TEST(Router, MirrorsItsPercentOfTheRoutesRequests) {
  const Router router(kConfig);
  EXPECT_EQ(router.route({.model = "deepseek-r1", .mirror_draw = 0.049}, all_up()).mirror, "shadow");
  EXPECT_FALSE(router.route({.model = "deepseek-r1", .mirror_draw = 0.05}, all_up()).mirror);
  EXPECT_FALSE(router.route({.model = "other", .mirror_draw = 0}, all_up()).mirror);
  PoolHealthMap h = all_up();
  h["shadow"] = {3, 0};
  EXPECT_FALSE(router.route({.model = "deepseek-r1", .mirror_draw = 0}, h).mirror);
}

TEST(Router, FailsOverToTheBackupBelowTheHealthyShareThreshold) {
  const Router router(kConfig);
  PoolHealthMap h = all_up();
  h["main"] = {10, 5};  // exactly the threshold: stays
  EXPECT_EQ(router.route({.model = "x"}, h).pool, "main");
  h["main"] = {10, 4};
  RouteDecision d = router.route({.model = "x"}, h);
  EXPECT_EQ(d.pool, "spare");
  EXPECT_EQ(d.reason, RouteReason::Backup);
  EXPECT_EQ(d.split_pool, "main");
  // Both below their thresholds: the first with anything healthy (degraded beats down).
  h["spare"] = {10, 2};
  EXPECT_EQ(router.route({.model = "x"}, h).pool, "main");
  h["main"] = {10, 0};
  EXPECT_EQ(router.route({.model = "x"}, h).pool, "spare");
}

TEST(Router, FallbackWhenTheChainIsDownThenAllDown) {
  const Router router(kConfig);
  PoolHealthMap h = all_up();
  h["main"] = {10, 0};
  h["spare"] = {10, 0};
  RouteDecision d = router.route({.model = "x"}, h);
  EXPECT_EQ(d.pool, "tiny");
  EXPECT_EQ(d.reason, RouteReason::Fallback);
  h.erase("tiny");  // unknown health counts as down
  d = router.route({.model = "x"}, h);
  EXPECT_EQ(d.reason, RouteReason::AllDown);
  EXPECT_EQ(d.pool, "main");
  // A pool without backup or fallback is simply down.
  h["canary"] = {2, 0};
  d = router.route({.model = "deepseek-r1", .split_draw = 0.95}, h);
  EXPECT_EQ(d.reason, RouteReason::AllDown);
  EXPECT_EQ(d.pool, "canary");
}

}  // namespace
}  // namespace tide::gateway
