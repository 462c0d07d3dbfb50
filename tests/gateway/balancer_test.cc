#include "gateway/balancer.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "gateway/hash_ring.h"
#include "gateway/prefix_aware.h"
#include "gateway/prefix_hash.h"
#include "gateway/session_affinity.h"

namespace tide::gateway {
namespace {

std::vector<EndpointSnapshot> pool(std::size_t n) {
  std::vector<EndpointSnapshot> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i].id = "10.0.0." + std::to_string(i) + ":8000";
  return out;
}

std::unique_ptr<Balancer> balancer(BalancerKind kind) { return make_balancer({.kind = kind}); }

std::string random_text(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, ' ');
  for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

TEST(Balancer, EveryPolicyReturnsNothingForAnEmptyPoolAndTheOnlyEndpointForOne) {
  for (auto kind : {BalancerKind::RoundRobin, BalancerKind::LeastOutstanding, BalancerKind::P2cEwma,
                    BalancerKind::PrefixAware, BalancerKind::SessionAffinity}) {
    auto b = balancer(kind);
    EXPECT_FALSE(b->pick({}, {.prompt = "hello", .session_key = "s"}));
    const auto one = pool(1);
    EXPECT_EQ(b->pick(one, {.prompt = "hello", .session_key = "s"}), 0u);
  }
}

TEST(RoundRobin, TakesEndpointsInTurn) {
  auto b = balancer(BalancerKind::RoundRobin);
  const auto p = pool(3);
  std::vector<std::size_t> got;
  for (int i = 0; i < 6; ++i) got.push_back(*b->pick(p, {}));
  EXPECT_EQ(got, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(LeastOutstanding, PicksTheFewestInFlightAndSpreadsTies) {
  auto b = balancer(BalancerKind::LeastOutstanding);
  auto p = pool(4);
  p[0].in_flight = 3, p[1].in_flight = 1, p[2].in_flight = 1, p[3].in_flight = 2;
  std::map<std::size_t, int> count;
  for (uint64_t r = 0; r < 1000; ++r) ++count[*b->pick(p, {.random = r})];
  EXPECT_EQ(count.size(), 2u);
  EXPECT_GT(count[1], 400);
  EXPECT_GT(count[2], 400);
}

TEST(P2cEwma, TheCostlierOfTwoNeverWinsAndUnmeasuredEndpointsGetTraffic) {
  auto b = balancer(BalancerKind::P2cEwma);
  auto p = pool(3);
  p[0].ewma_latency_ms = 100, p[0].in_flight = 0;  // cost 100
  p[1].ewma_latency_ms = 10, p[1].in_flight = 4;   // cost 50
  p[2].ewma_latency_ms = 0, p[2].in_flight = 9;    // unmeasured: 10 × 10 = 100... tie with 0
  p[2].in_flight = 19;                             // cost 200: the worst
  std::map<std::size_t, int> count;
  for (uint64_t r = 0; r < 3000; ++r) ++count[*b->pick(p, {.random = r})];
  EXPECT_EQ(count[2], 0);                // the costliest loses every pair it is in
  EXPECT_NEAR(count[1], 2000, 150);      // wins both of its pairs: 2/3 of the draws
  EXPECT_NEAR(count[0], 1000, 150);
  p[2].in_flight = 0;  // unmeasured and idle: costed at the fastest (10), it wins its pairs
  count.clear();
  for (uint64_t r = 0; r < 3000; ++r) ++count[*b->pick(p, {.random = r})];
  EXPECT_NEAR(count[2], 2000, 150);
}

TEST(PrefixHash, SharedPrefixesShareHashesAndPartialBlocksAreIgnored) {
  const auto a = prefix_block_hashes("aaaabbbbcccc", 4, 100);
  const auto b = prefix_block_hashes("aaaabbbbdddd", 4, 100);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0], b[0]);
  EXPECT_EQ(a[1], b[1]);
  EXPECT_NE(a[2], b[2]);
  EXPECT_EQ(prefix_block_hashes("aaaabbbbcc", 4, 100).size(), 2u);
  EXPECT_EQ(prefix_block_hashes("aaaabbbbcccc", 4, 2).size(), 2u);
  // Chained: the same block after a different prefix hashes differently.
  EXPECT_NE(prefix_block_hashes("xxxxbbbb", 4, 100)[1], a[1]);
  // Shorter than a block: hashed whole.
  EXPECT_EQ(prefix_block_hashes("ab", 4, 100).size(), 1u);
  EXPECT_NE(prefix_block_hashes("ab", 4, 100), prefix_block_hashes("ac", 4, 100));
  EXPECT_TRUE(prefix_block_hashes("", 4, 100).empty());
  const std::vector<int32_t> t1 = {1, 2, 3, 4, 5}, t2 = {1, 2, 9, 9};
  EXPECT_EQ(prefix_block_hashes(t1, 2, 100).size(), 2u);
  EXPECT_EQ(prefix_block_hashes(t1, 2, 100)[0], prefix_block_hashes(t2, 2, 100)[0]);
  EXPECT_NE(prefix_block_hashes(t1, 2, 100)[1], prefix_block_hashes(t2, 2, 100)[1]);
}

// The share of `keys` whose endpoint changes when the pool changes from `before` to `after`,
// checking that every moved key moved to an endpoint that joined or away from one that left.
double moved_share(Balancer& b, const std::vector<EndpointSnapshot>& before, const std::vector<EndpointSnapshot>& after,
                   const std::vector<std::string>& keys, bool session) {
  std::set<std::string> before_ids, after_ids;
  for (const auto& e : before) before_ids.insert(e.id);
  for (const auto& e : after) after_ids.insert(e.id);
  int moved = 0;
  for (const auto& key : keys) {
    const RequestInfo req = session ? RequestInfo{.session_key = key} : RequestInfo{.prompt = key};
    const std::string& from = before[*b.pick(before, req)].id;
    const std::string& to = after[*b.pick(after, req)].id;
    if (from == to) continue;
    ++moved;
    EXPECT_TRUE(!after_ids.contains(from) || !before_ids.contains(to)) << key << ": " << from << " -> " << to;
  }
  return static_cast<double>(moved) / static_cast<double>(keys.size());
}

TEST(HashRing, JoiningAndLeavingMovesOnlyTheirShareOfKeys) {
  std::mt19937_64 rng(7);
  std::vector<std::string> keys;
  for (int i = 0; i < 4000; ++i) keys.push_back(random_text(rng, 40));
  const auto ten = pool(10), eleven = pool(11);
  auto nine = ten;
  nine.erase(nine.begin() + 4);

  SessionAffinityBalancer sessions({});
  EXPECT_LT(moved_share(sessions, ten, eleven, keys, true), 1.5 / 11);
  EXPECT_GT(moved_share(sessions, ten, eleven, keys, true), 0.5 / 11);
  EXPECT_LT(moved_share(sessions, ten, nine, keys, true), 1.5 / 10);

  // prefix_aware without the learned map (which would pin keys where they were) and at zero
  // load moves keys exactly like the ring.
  PrefixAwareBalancer prefix({.block_size = 16, .learned_entries = 0});
  EXPECT_LT(moved_share(prefix, ten, eleven, keys, false), 1.5 / 11);
  EXPECT_LT(moved_share(prefix, ten, nine, keys, false), 1.5 / 10);
}

TEST(HashRing, KeysSpreadEvenlyOverEndpoints) {
  HashRing ring({"a:1", "b:1", "c:1", "d:1"}, 160);
  std::map<std::size_t, int> count;
  for (uint64_t k = 0; k < 8000; ++k) ++count[*ring.find(mix64(k), [](std::size_t) { return true; })];
  for (const auto& [id, n] : count) EXPECT_NEAR(n, 2000, 400) << ring.ids()[id];
  // find() offers each endpoint once, in ring order, and gives up after all.
  int offers = 0;
  EXPECT_FALSE(ring.find(42, [&](std::size_t) { return ++offers, false; }));
  EXPECT_EQ(offers, 4);
}

TEST(PrefixAware, SamePrefixSameEndpointAndDifferentPrefixesSpread) {
  PrefixAwareBalancer b({.block_size = 16});
  const auto p = pool(4);
  std::mt19937_64 rng(1);
  const std::string system = random_text(rng, 64);
  const std::size_t first = *b.pick(p, {.prompt = system + "question one"});
  for (int i = 0; i < 20; ++i) EXPECT_EQ(*b.pick(p, {.prompt = system + random_text(rng, 30)}), first);
  std::set<std::size_t> used;
  for (int i = 0; i < 100; ++i) used.insert(*b.pick(p, {.prompt = random_text(rng, 200)}));
  EXPECT_EQ(used.size(), 4u);
}

TEST(PrefixAware, LearnedMapKeepsAGrowingConversationOnItsEndpoint) {
  std::mt19937_64 rng(3);
  const auto p = pool(8);
  const auto stays = [&](std::size_t learned_entries) {
    PrefixAwareBalancer b({.block_size = 16, .max_blocks = 4, .learned_entries = learned_entries});
    int same = 0;
    for (int c = 0; c < 100; ++c) {
      std::string prompt = random_text(rng, 40);  // two blocks; later turns make it longer
      const std::size_t first = *b.pick(p, {.prompt = prompt});
      prompt += random_text(rng, 200);
      same += *b.pick(p, {.prompt = prompt}) == first;
    }
    return same;
  };
  EXPECT_EQ(stays(10'000), 100);
  EXPECT_LT(stays(0), 40);  // the ring key moved with the longer prefix
}

TEST(PrefixAware, BoundedLoadSpillsAHotPrefixAndKeepsEveryEndpointUnderCapacity) {
  const double factor = 1.25;
  PrefixAwareBalancer b({.block_size = 16, .load_factor = factor});
  auto p = pool(4);
  std::set<std::size_t> used;
  // 40 concurrent requests of one hot prompt: none finishes while they arrive.
  for (int i = 0; i < 40; ++i) {
    double total = 0;
    for (const auto& e : p) total += endpoint_load(e);
    const std::size_t c = *b.pick(p, {.prompt = "the same hot system prompt, over and over"});
    EXPECT_LE(p[c].in_flight + 1, std::ceil(factor * (total + 1) / 4));
    ++p[c].in_flight;
    used.insert(c);
  }
  EXPECT_EQ(used.size(), 4u);
  for (const auto& e : p) EXPECT_NEAR(e.in_flight, 10, 3);
}

TEST(PrefixAware, ScrapedLoadCountsAndLearnedMapIsBounded) {
  PrefixAwareBalancer b({.block_size = 4, .learned_entries = 50});
  auto p = pool(2);
  const std::size_t home = *b.pick(p, {.prompt = "abcdefgh"});
  p[home].waiting = 20;  // busy with another gateway's traffic
  EXPECT_NE(*b.pick(p, {.prompt = "abcdefgh"}), home);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 100; ++i) b.pick(p, {.prompt = random_text(rng, 400)});
  EXPECT_LE(b.learned_size(), 50u);
}

TEST(PrefixAware, TokenBlocksWhenAskedAndCharsWithoutTokens) {
  PrefixAwareBalancer b({.block_size = 2, .block_unit = BlockUnit::Tokens});
  const auto p = pool(16);
  const std::vector<int32_t> a = {1, 2, 3, 4, 5, 6}, c = {1, 2, 3, 4, 7, 8};
  const std::size_t first = *b.pick(p, {.prompt = "x", .prompt_tokens = a});
  EXPECT_EQ(*b.pick(p, {.prompt = "y", .prompt_tokens = c}), first);  // shares two blocks
}

TEST(SessionAffinity, SameKeySameEndpointWithoutKeyLeastOutstanding) {
  SessionAffinityBalancer b({});
  auto p = pool(5);
  const std::size_t home = *b.pick(p, {.session_key = "user-42"});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(*b.pick(p, {.session_key = "user-42", .random = uint64_t(i)}), home);
  for (auto& e : p) e.in_flight = 5;
  p[3].in_flight = 0;
  EXPECT_EQ(*b.pick(p, {}), 3u);
  // The home endpoint leaves: the session moves, and comes back when it returns.
  auto without = p;
  without.erase(without.begin() + static_cast<std::ptrdiff_t>(home));
  EXPECT_NE(without[*b.pick(without, {.session_key = "user-42"})].id, p[home].id);
  EXPECT_EQ(*b.pick(p, {.session_key = "user-42"}), home);
}

}  // namespace
}  // namespace tide::gateway
