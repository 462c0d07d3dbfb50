#include "common/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace tide {
namespace {

TEST(Metrics, SameLabelValuesGiveTheSameChild) {
  MetricsRegistry registry;
  auto& family = registry.counter("t_requests_total", "Requests", {"route", "code"});
  auto& a = family.labels({"/v1/completions", "200"});
  const std::string route = "/v1/completions";
  auto& b = family.labels({route, std::to_string(200)});
  auto& c = family.labels(std::vector<std::string>{"/v1/completions", "200"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a, &c);
  EXPECT_NE(&a, &family.labels({"/v1/completions", "500"}));
}

TEST(Metrics, LabelValuesThatConcatenateAlikeStayApart) {
  MetricsRegistry registry;
  auto& family = registry.counter("t_total", "T", {"x", "y"});
  family.labels({"a", "bc"}).inc();
  family.labels({"ab", "c"}).inc(2);
  family.labels({"", "abc"}).inc(3);
  const std::string page = registry.render();
  EXPECT_NE(page.find("t_total{x=\"a\",y=\"bc\"} 1"), std::string::npos) << page;
  EXPECT_NE(page.find("t_total{x=\"ab\",y=\"c\"} 2"), std::string::npos) << page;
  EXPECT_NE(page.find("t_total{x=\"\",y=\"abc\"} 3"), std::string::npos) << page;
}

TEST(Metrics, AWrongNumberOfLabelValuesIsRefused) {
  MetricsRegistry registry;
  auto& family = registry.counter("t_total", "T", {"x"});
  EXPECT_THROW(family.labels({"a", "b"}), std::exception);
  EXPECT_THROW(family.get(), std::exception);
  EXPECT_NO_THROW(registry.counter("t_plain_total", "T").get().inc());
}

TEST(Metrics, ChildrenFoundAndAddedFromManyThreadsCountEveryUpdate) {
  MetricsRegistry registry;
  auto& family = registry.counter("t_total", "T", {"k"});
  constexpr int kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&family] {
      for (int i = 0; i < kPerThread; ++i) family.labels({std::to_string(i % 7)}).inc();
    });
  for (auto& thread : threads) thread.join();
  double total = 0;
  family.for_each([&](const auto&, const Counter& c) { total += c.value(); });
  EXPECT_EQ(total, kThreads * kPerThread);
}

}  // namespace
}  // namespace tide
