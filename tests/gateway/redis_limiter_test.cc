// RedisLimiterBackend against a real redis-server, started by each test on a free loopback
// port (no persistence, a temp dir) and killed at the end. Two RateLimiters with their own
// backends stand for two gateway processes.
#include "gateway/redis_limiter_backend.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"

namespace tide::gateway {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

std::string find_redis_server() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/usr/local/bin";
  dirs += ":/usr/bin:/usr/sbin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const std::size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::filesystem::path candidate = std::filesystem::path(dirs.substr(start, end - start)) / "redis-server";
    if (!candidate.parent_path().empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// A short-lived client for checks behind the backend's back.
struct Raw {
  redisContext* c;
  explicit Raw(uint16_t port) : c(redisConnectWithTimeout("127.0.0.1", port, {1, 0})) {}
  ~Raw() {
    if (c) redisFree(c);
  }
  bool ok() const { return c && !c->err; }
  long long integer(const std::string& command, const std::string& key) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "%s %b", command.c_str(), key.data(), key.size()));
    const long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -100;
    if (r) freeReplyObject(r);
    return v;
  }
  std::string field(const std::string& key, const char* name) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "HGET %b %s", key.data(), key.size(), name));
    std::string v = r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : "";
    if (r) freeReplyObject(r);
    return v;
  }
  bool command(const char* text) {
    auto* r = static_cast<redisReply*>(redisCommand(c, text));
    const bool good = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    return good;
  }
};

class RedisServer {
 public:
  RedisServer(std::string binary, uint16_t port) : binary_(std::move(binary)), port_(port) {
    char dir[] = "/tmp/tide-redis-XXXXXX";
    if (!mkdtemp(dir)) fail("mkdtemp failed");
    dir_ = dir;
  }
  ~RedisServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void start() {
    pid_ = fork();
    if (pid_ == 0) {
      const std::string port = std::to_string(port_);
      execl(binary_.c_str(), binary_.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", dir_.c_str(), "--logfile", (dir_ + "/redis.log").c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    const auto deadline = Steady::now() + 10s;
    while (Steady::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        fail("redis-server exited at start (port {} taken?)", port_);
      }
      Raw raw(port_);
      if (raw.ok() && raw.command("PING")) return;
      std::this_thread::sleep_for(10ms);
    }
    fail("redis-server did not answer within 10 s");
  }
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void pause() { kill(pid_, SIGSTOP); }
  void resume() { kill(pid_, SIGCONT); }
  uint16_t port() const { return port_; }

 private:
  std::string binary_;
  uint16_t port_;
  std::string dir_;
  pid_t pid_ = -1;
};

class RedisLimiter : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // As tide serve and tide gateway do: a write to a connection Redis has closed is an error
    // code, not a fatal signal.
    std::signal(SIGPIPE, SIG_IGN);
  }
  void SetUp() override {
    const std::string binary = find_redis_server();
    if (binary.empty())
      GTEST_SKIP() << "redis-server not found on PATH: install the redis-server package (scripts/install-deps.sh) "
                      "to run the shared rate-limit tests";
    server_ = std::make_unique<RedisServer>(binary, free_port());
    server_->start();
  }
  void TearDown() override { server_.reset(); }

  // A 2 s timeout by default: under ASan on a loaded CI machine a healthy call can take far
  // longer than a production timeout, and a spurious one would be decided by fail_open. Only the
  // test of a stalled Redis, which times a timeout, passes a short one.
  RedisConfig config(bool fail_open = true, std::chrono::milliseconds timeout = 2s) const {
    RedisConfig c;
    c.address = "127.0.0.1:" + std::to_string(server_->port());
    c.fail_open = fail_open;
    c.timeout = timeout;
    c.connect_timeout = timeout;
    c.key_prefix = "test:";
    c.pool_size = 4;
    c.reconnect_backoff = 20ms;
    c.reconnect_backoff_max = 160ms;
    return c;
  }
  // A gateway: its own backend (own connections), sharing only the Redis server.
  struct Gateway {
    std::shared_ptr<RedisLimiterBackend> backend;
    RateLimiter limiter;
    Gateway(const RedisConfig& c, std::vector<LimitRule> rules)
        : backend(std::make_shared<RedisLimiterBackend>(c)), limiter(std::move(rules), backend, c.fail_open) {}
    LimitDecision admit(std::string_view user, double tokens = 0, std::string_view model = "m") {
      return limiter.admit({.api_key_id = "k", .user = user, .model = model}, tokens, Clock::now()).decision;
    }
  };

  std::unique_ptr<RedisServer> server_;
};

LimitRule per_user(double rps, double burst) {
  return {.key = {.user = true}, .requests_per_second = rps, .burst = burst};
}

TEST_F(RedisLimiter, TwoGatewaysHoldOneBurstTogether) {
  // 0.1/s: a token takes 10 s to come back, far longer than a loaded machine takes for the test.
  Gateway a(config(), {per_user(0.1, 10)});
  Gateway b(config(), {per_user(0.1, 10)});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((i % 2 ? a : b).admit("alice").allowed) << i;
  const LimitDecision refused = a.admit("alice");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.rule, 0);
  EXPECT_GT(refused.retry_after_s, 5.0);  // one token at 0.1/s (10 s), less the time the test took
  EXPECT_LE(refused.retry_after_s, 10.0);
  EXPECT_FALSE(b.admit("alice").allowed);
  EXPECT_TRUE(b.admit("bob").allowed);  // another key, another bucket
  EXPECT_EQ(a.backend->errors() + b.backend->errors(), 0u);
}

TEST_F(RedisLimiter, BucketsRefillOnTheServersClock) {
  // 2/s: a 500 ms refill window, which back-to-back calls stay inside even on a loaded machine.
  Gateway a(config(), {per_user(2, 1)});
  Gateway b(config(), {per_user(2, 1)});
  ASSERT_TRUE(a.admit("u").allowed);
  const LimitDecision refused = b.admit("u");
  ASSERT_FALSE(refused.allowed);
  EXPECT_LE(refused.retry_after_s, 0.5);  // at most one token at 2/s
  std::this_thread::sleep_for(600ms);     // 1.2 tokens at 2/s, capped at the burst of 1
  EXPECT_TRUE(b.admit("u").allowed);
  EXPECT_FALSE(a.admit("u").allowed);
}

TEST_F(RedisLimiter, ARequestIsAdmittedByAllRulesOrCostsNothing) {
  // Rule 0: 3 requests per model; rule 1: 1 per user. Neither refills within the test.
  const std::vector<LimitRule> rules{
      {.key = {.model = true}, .requests_per_second = 0.001, .burst = 3},
      {.key = {.user = true}, .requests_per_second = 0.001, .burst = 1},
  };
  Gateway a(config(), rules);
  Gateway b(config(), rules);
  ASSERT_TRUE(a.admit("u1").allowed);
  for (int i = 0; i < 3; ++i) {
    const LimitDecision d = (i % 2 ? a : b).admit("u1");
    ASSERT_FALSE(d.allowed);
    EXPECT_EQ(d.rule, 1);
  }
  // The refusals took nothing from the model's bucket: two more users fit, the third does not.
  EXPECT_TRUE(b.admit("u2").allowed);
  EXPECT_TRUE(a.admit("u3").allowed);
  const LimitDecision d = b.admit("u4");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, 0);
  // u4's own bucket was not debited either.
  Raw raw(server_->port());
  const std::string u4 = a.backend->redis_key(RateLimiter::bucket_key(1, rules[1].key, {.user = "u4"}, 'q'));
  EXPECT_EQ(raw.integer("EXISTS", u4), 0);
}

TEST_F(RedisLimiter, CorrectionsSettleTheEstimate) {
  // 60 tokens a minute (1/s), bucket of 100.
  const std::vector<LimitRule> rules{{.key = {.api_key = true}, .tokens_per_minute = 60, .token_burst = 100}};
  Gateway a(config(), rules);
  Gateway b(config(), rules);
  const Admission first = a.limiter.admit({.api_key_id = "k"}, 100, Clock::now());
  ASSERT_TRUE(first.decision.allowed);
  EXPECT_FALSE(b.admit("", 50).allowed);
  a.limiter.correct(first, 40, Clock::now());  // it used 40: 60 come back
  const Admission second = b.limiter.admit({.api_key_id = "k"}, 50, Clock::now());
  ASSERT_TRUE(second.decision.allowed);
  // An underestimate drives the bucket into debt that the next requests wait for.
  b.limiter.correct(second, 150, Clock::now());  // 100 more: about 10 - 100 = -90
  const LimitDecision d = a.admit("", 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_GT(d.retry_after_s, 85);
  EXPECT_LT(d.retry_after_s, 95);
}

TEST_F(RedisLimiter, IdleBucketsExpireWhenTheyWouldBeFull) {
  // 2/s, burst 1: the key lives 500 ms, long enough to PTTL it on a loaded machine. The raw
  // connection is opened first, so that its connect does not eat into that.
  const std::vector<LimitRule> rules{per_user(2, 1)};
  Gateway a(config(), rules);
  Raw raw(server_->port());
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(a.admit("idle").allowed);
  const std::string key = a.backend->redis_key(RateLimiter::bucket_key(0, rules[0].key, {.user = "idle"}, 'q'));
  ASSERT_EQ(key.rfind("test:", 0), 0u);
  const long long ttl = raw.integer("PTTL", key);
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 501);  // empty bucket, 2/s: full again in 500 ms
  EXPECT_NE(raw.field(key, "t"), "");
  std::this_thread::sleep_for(650ms);  // past the at most 501 ms the key had left
  EXPECT_EQ(raw.integer("EXISTS", key), 0);
  // A bucket that refills to full (a refund) is deleted at once.
  EXPECT_TRUE(a.admit("idle").allowed);
  a.backend->adjust({RateLimiter::bucket_key(0, rules[0].key, {.user = "idle"}, 'q'), {2, 1}, -5}, Clock::now());
  EXPECT_EQ(raw.integer("EXISTS", key), 0);
}

TEST_F(RedisLimiter, AFlushedScriptCacheFallsBackToEval) {
  Gateway a(config(), {per_user(0.001, 2)});
  ASSERT_TRUE(a.admit("u").allowed);
  Raw raw(server_->port());
  ASSERT_TRUE(raw.command("SCRIPT FLUSH"));  // as a restarted Redis would have it
  EXPECT_TRUE(a.admit("u").allowed);         // NOSCRIPT, then EVAL
  EXPECT_FALSE(a.admit("u").allowed);
  EXPECT_EQ(a.backend->errors(), 0u);
}

TEST_F(RedisLimiter, PooledConnectionsClosedByTheServerAreReplacedWithoutAnError) {
  Gateway a(config(), {per_user(0.001, 3)});
  ASSERT_TRUE(a.admit("u").allowed);
  Raw raw(server_->port());
  // As an idle-timeout on the server, or a proxy in between, would do.
  ASSERT_TRUE(raw.command("CLIENT KILL TYPE normal SKIPME yes"));
  EXPECT_TRUE(a.admit("u").allowed);
  EXPECT_TRUE(a.admit("u").allowed);
  EXPECT_FALSE(a.admit("u").allowed);  // and it was Redis that answered
  EXPECT_EQ(a.backend->errors(), 0u);
  EXPECT_TRUE(a.backend->available());
}

TEST_F(RedisLimiter, ConcurrentGatewaysNeverAdmitMoreThanTheBurst) {
  Gateway a(config(), {per_user(0.001, 100)});
  Gateway b(config(), {per_user(0.001, 100)});
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i)
        if ((t % 2 ? a : b).admit("shared").allowed) admitted.fetch_add(1);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(admitted.load(), 100);
  EXPECT_EQ(a.backend->errors() + b.backend->errors(), 0u);
}

TEST_F(RedisLimiter, KilledRedisFailsOpenOrClosedPromptlyAndRecovers) {
  auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", ring));

  Gateway open(config(true), {per_user(0.001, 2)});
  Gateway closed(config(false), {per_user(0.001, 2)});
  ASSERT_TRUE(open.admit("u").allowed);
  ASSERT_TRUE(closed.admit("u").allowed);  // u: 0 left

  server_->stop();
  const auto start = Steady::now();
  int calls = 0;
  while (Steady::now() - start < 500ms) {
    const auto t = Steady::now();
    EXPECT_TRUE(open.admit("u").allowed);     // would be refused by the bucket
    EXPECT_FALSE(closed.admit("v").allowed);  // would be admitted by the bucket
    // Two calls: a killed Redis refuses connections at once, so neither waits out its 2 s
    // timeout; the bound leaves room for a loaded machine.
    EXPECT_LT(Steady::now() - t, 1s);
    calls += 2;
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_FALSE(open.backend->available());
  EXPECT_EQ(open.backend->errors() + closed.backend->errors(), static_cast<uint64_t>(calls));
  // One warning per back-off period (20, 40, 80, 160, 160... ms), not one per request.
  const auto lines = ring->last_formatted();
  const auto warnings = std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("warning") != std::string::npos && l.find("redis") != std::string::npos;
  });
  EXPECT_GE(warnings, 2);
  EXPECT_LE(warnings, 16) << "calls: " << calls;
  EXPECT_GT(calls, 2 * warnings) << "one warning per back-off period, not per call";

  server_->start();  // empty: no persistence
  const auto deadline = Steady::now() + 3s;
  while (!closed.admit("w").allowed && Steady::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(closed.backend->available());
  // Limits are enforced through Redis again: w had 2, one taken above.
  EXPECT_TRUE(closed.admit("w").allowed);
  EXPECT_FALSE(closed.admit("w").allowed);
  while (!open.backend->available() && Steady::now() < deadline) {
    open.admit("x");
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(open.admit("x").allowed);
  EXPECT_FALSE(open.admit("x").allowed);
  const auto recovered = ring->last_formatted();
  EXPECT_TRUE(std::any_of(recovered.begin(), recovered.end(),
                          [](const std::string& l) { return l.find("reachable again") != std::string::npos; }));
  spdlog::set_default_logger(previous);
}

TEST_F(RedisLimiter, AStalledRedisCostsOneTimeoutThenFailsFast) {
  // A 50 ms timeout, to time one; a 1 s back-off, so that the 50 calls below fall inside it
  // even on a loaded machine, and take far less than the 2.5 s their timeouts would.
  RedisConfig c = config(true, 50ms);
  c.reconnect_backoff = 1s;
  c.reconnect_backoff_max = 1s;
  Gateway open(c, {per_user(0.001, 1)});
  ASSERT_TRUE(open.admit("u").allowed);
  server_->pause();  // accepts nothing, answers nothing: the worst case for a client
  auto t = Steady::now();
  EXPECT_TRUE(open.admit("u").allowed);  // fail_open
  const auto first = Steady::now() - t;
  EXPECT_GE(first, 40ms);
  EXPECT_LT(first, 1s);  // one 50 ms timeout, not a hang
  t = Steady::now();
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(open.admit("u").allowed);
  EXPECT_LT(Steady::now() - t, 1s);  // in back-off: no network; 50 timeouts would take 2.5 s
  EXPECT_GE(open.backend->errors(), 51u);

  server_->resume();
  // The first probe comes 1 s after the failure, and one that fails waits 1 s more.
  const auto deadline = Steady::now() + 5s;
  while (!open.backend->available() && Steady::now() < deadline) {
    open.admit("probe");
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(open.backend->available());
  EXPECT_FALSE(open.admit("u").allowed);  // the bucket survived the stall
}

TEST_F(RedisLimiter, RejectsABadAddressAndBadBuckets) {
  RedisConfig c = config();
  c.address = "nope";
  EXPECT_THROW(RedisLimiterBackend{c}, Error);
  RedisLimiterBackend backend(config());
  const BucketRequest bad{"k", {0, 1}, 1};
  EXPECT_THROW(backend.acquire(std::span(&bad, 1), Clock::now()), Error);
  EXPECT_TRUE(backend.acquire({}, Clock::now()).allowed);
}

}  // namespace
}  // namespace tide::gateway
