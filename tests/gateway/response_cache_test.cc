#include "gateway/response_cache.h"

#include <gtest/gtest.h>

namespace tide::gateway {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
const Clock::time_point t0 = Clock::time_point{} + 1h;

TEST(ResponseCache, OnlyDeterministicRequestsHaveAKey) {
  const json greedy = {{"model", "m"}, {"temperature", 0}, {"prompt", "hi"}};
  EXPECT_TRUE(ResponseCache::key_for(greedy));
  EXPECT_FALSE(ResponseCache::key_for({{"model", "m"}, {"prompt", "hi"}}));  // default temperature 1
  EXPECT_FALSE(ResponseCache::key_for({{"model", "m"}, {"temperature", 0.7}, {"prompt", "hi"}}));
  EXPECT_FALSE(ResponseCache::key_for({{"model", "m"}, {"temperature", 0}, {"n", 3}}));
  EXPECT_TRUE(ResponseCache::key_for({{"model", "m"}, {"temperature", 0}, {"n", 1}}));
  EXPECT_FALSE(ResponseCache::key_for({{"temperature", 0}}));
  EXPECT_FALSE(ResponseCache::key_for(json::array()));
}

TEST(ResponseCache, KeyIsCanonicalAndScoped) {
  const auto a = ResponseCache::key_for(json::parse(R"({"model":"m","temperature":0,"prompt":"hi","user":"x"})"));
  const auto b = ResponseCache::key_for(json::parse(R"({"prompt":"hi","user":"y","temperature":0,"model":"m"})"));
  EXPECT_EQ(a, b);  // key order and user do not matter
  EXPECT_NE(a, ResponseCache::key_for(json::parse(R"({"model":"m","temperature":0,"prompt":"ho"})")));
  EXPECT_NE(a, ResponseCache::key_for(json::parse(R"({"model":"m2","temperature":0,"prompt":"hi"})")));
  EXPECT_NE(a, ResponseCache::key_for(json::parse(R"({"model":"m","temperature":0,"prompt":"hi"})"), "tenant"));
}

TEST(ResponseCache, TtlExpiresEntries) {
  ResponseCache cache({.enabled = true, .max_bytes = 1 << 20, .max_entries = 10, .ttl = 60s});
  cache.put("k", {.body = "hello"}, t0);
  EXPECT_EQ(cache.get("k", t0 + 59s)->body, "hello");
  EXPECT_FALSE(cache.get("k", t0 + 60s));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

TEST(ResponseCache, LruEvictsByEntriesAndBytes) {
  ResponseCache cache({.enabled = true, .max_bytes = 100, .max_entries = 3, .ttl = 1h});
  const std::string ct = "application/json";  // 16 bytes counted per entry
  cache.put("a", {.body = "1"}, t0);
  cache.put("b", {.body = "2"}, t0);
  cache.put("c", {.body = "3"}, t0);
  EXPECT_TRUE(cache.get("a", t0));  // a is now the most recent
  cache.put("d", {.body = "4"}, t0);
  EXPECT_FALSE(cache.get("b", t0));
  EXPECT_TRUE(cache.get("a", t0));
  EXPECT_EQ(cache.size(), 3u);
  cache.put("e", {.body = std::string(60, 'x')}, t0);  // 77 bytes: the others must go
  EXPECT_LE(cache.bytes(), 100u);
  EXPECT_TRUE(cache.get("e", t0));
  cache.put("huge", {.body = std::string(200, 'x')}, t0);  // larger than the cache: not stored
  EXPECT_FALSE(cache.get("huge", t0));
  EXPECT_TRUE(cache.get("e", t0));
  cache.put("e", {.body = "replaced"}, t0);
  EXPECT_EQ(cache.get("e", t0)->body, "replaced");
  EXPECT_EQ(cache.size(), 1u + (cache.get("a", t0) ? 1u : 0u) + (cache.get("c", t0) ? 1u : 0u) +
                              (cache.get("d", t0) ? 1u : 0u));
}

}  // namespace
}  // namespace tide::gateway
