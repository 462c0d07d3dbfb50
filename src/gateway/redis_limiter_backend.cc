#include "gateway/redis_limiter_backend.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "common/error.h"
#include "common/log.h"

namespace tide::gateway {
namespace {

// KEYS: one per bucket. ARGV[1]: "a" (acquire: check, then take all or none) or "j" (adjust:
// take without a check); then rate, burst, cost for each bucket. A bucket is a hash {t: tokens,
// s: microseconds of the last refill}, with the same arithmetic as TokenBucket: refill up to
// burst, a cost above burst needs a full bucket and leaves debt, a clock that steps back
// refills nothing. Returns {allowed, index of the first refusing bucket or -1, retry_after}
// with retry_after as a string, since Redis would truncate a Lua number to an integer.
constexpr std::string_view kScript = R"lua(
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local check = ARGV[1] == 'a'
local state = {}
local allowed, denied, wait = 1, -1, 0
for i = 1, #KEYS do
  local rate, burst, cost = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local saved = redis.call('HMGET', KEYS[i], 't', 's')
  local tokens, stamp = tonumber(saved[1]), tonumber(saved[2])
  if tokens == nil or stamp == nil then
    tokens, stamp = burst, now
  elseif now > stamp then
    tokens = tokens + (now - stamp) / 1000000 * rate
    stamp = now
  end
  if tokens > burst then tokens = burst end
  state[i] = {tokens, stamp, rate, burst, cost}
  local need = math.min(cost, burst)
  if check and tokens < need then
    if allowed == 1 then denied = i - 1 end
    allowed = 0
    wait = math.max(wait, (need - tokens) / rate)
  end
end
if allowed == 1 then
  for i = 1, #KEYS do
    local tokens, stamp, rate, burst, cost = unpack(state[i])
    tokens = math.min(burst, tokens - cost)
    if tokens >= burst then
      redis.call('DEL', KEYS[i])
    else
      redis.call('HSET', KEYS[i], 't', string.format('%.17g', tokens), 's', string.format('%.17g', stamp))
      -- Expire when the bucket would be full again: a missing key is a full bucket.
      local ttl = math.min(math.ceil((burst - tokens) / rate * 1000) + 1, 31536000000)
      redis.call('PEXPIRE', KEYS[i], string.format('%d', ttl))
    end
  end
end
return {allowed, denied, string.format('%.17g', wait)}
)lua";

timeval to_timeval(Millis ms) {
  return {static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

std::string number(double v) { return fmt::format("{:.17g}", v); }

// hiredis reports a command timeout as the socket's EAGAIN.
bool timed_out(const redisContext* c) {
  const std::string_view err = c->errstr;
  return err.find("temporarily unavailable") != std::string_view::npos || err.find("timed out") != std::string_view::npos;
}

std::string describe(const redisContext* c, Millis timeout) {
  if (c->errstr[0] == 0) return "no reply";
  if (timed_out(c)) return fmt::format("no answer within {} ms", timeout.count());
  return c->errstr;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

long long as_millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

RedisLimiterBackend::RedisLimiterBackend(const RedisConfig& config) : config_(config) {
  const auto address = parse_host_port(config.address);
  if (!address) fail("redis.address: \"{}\" is not host:port", config.address);
  address_ = *address;
  config_.pool_size = std::max<uint32_t>(1, config_.pool_size);
}

RedisLimiterBackend::~RedisLimiterBackend() {
  // Every context is idle by now: a call in flight would hold a reference to this object.
  for (redisContext* c : idle_) redisFree(c);
}

bool RedisLimiterBackend::available() const {
  std::lock_guard lock(mutex_);
  return backoff_ == Steady::duration::zero();
}

redisContext* RedisLimiterBackend::take_context(bool& probe, bool& reused) {
  std::unique_lock lock(mutex_);
  probe = reused = false;
  if (backoff_ != Steady::duration::zero()) {
    const auto now = Steady::now();
    if (now < retry_at_ || probing_) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      fail("redis {}: unavailable, next attempt in {} ms", config_.address, std::max(0LL, as_millis(retry_at_ - now)));
    }
    probing_ = probe = true;
  }
  // Every connection busy: wait for one, at most one command timeout (each holder finishes
  // or fails within that). A back-off that starts meanwhile fails the wait at once.
  const auto deadline = Steady::now() + config_.timeout;
  while (idle_.empty() && open_ >= config_.pool_size) {
    const bool timed_out = context_freed_.wait_until(lock, deadline) == std::cv_status::timeout;
    if (!probe && backoff_ != Steady::duration::zero()) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      fail("redis {}: unavailable", config_.address);
    }
    if (timed_out && idle_.empty() && open_ >= config_.pool_size) {
      if (probe) probing_ = false;
      errors_.fetch_add(1, std::memory_order_relaxed);
      fail("redis {}: all {} connections busy", config_.address, config_.pool_size);
    }
  }
  if (!idle_.empty()) {
    redisContext* c = idle_.back();
    idle_.pop_back();
    reused = true;
    return c;
  }
  ++open_;
  lock.unlock();

  redisContext* c = redisConnectWithTimeout(address_.host.c_str(), address_.port, to_timeval(config_.connect_timeout));
  if (!c) failed(nullptr, probe, "connect: out of memory");
  if (c->err) failed(c, probe, fmt::format("connect: {}", describe(c, config_.connect_timeout)));
  if (redisSetTimeout(c, to_timeval(config_.timeout)) != REDIS_OK) failed(c, probe, "cannot set the command timeout");
  return c;
}

void RedisLimiterBackend::give_back(redisContext* context, bool probe) {
  {
    std::lock_guard lock(mutex_);
    idle_.push_back(context);
    if (probe) {
      probing_ = false;
      if (backoff_ != Steady::duration::zero()) {
        backoff_ = Steady::duration::zero();
        spdlog::info("redis {}: reachable again; rate limits are shared again", config_.address);
      }
    }
  }
  context_freed_.notify_one();
}

void RedisLimiterBackend::discard_idle(redisContext* stale) {
  std::vector<redisContext*> to_free{stale};
  {
    std::lock_guard lock(mutex_);
    // The others sat idle as long: likely closed too.
    open_ -= 1 + static_cast<uint32_t>(idle_.size());
    to_free.insert(to_free.end(), idle_.begin(), idle_.end());
    idle_.clear();
  }
  for (redisContext* c : to_free) redisFree(c);
  context_freed_.notify_all();
}

void RedisLimiterBackend::failed(redisContext* broken, bool probe, const std::string& why) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  std::vector<redisContext*> to_free;
  {
    std::lock_guard lock(mutex_);
    if (broken) to_free.push_back(broken);
    --open_;  // broken's slot, or the one reserved for a connection that never came
    // The server went away or stalls: the idle connections are as suspect as this one.
    open_ -= static_cast<uint32_t>(idle_.size());
    to_free.insert(to_free.end(), idle_.begin(), idle_.end());
    idle_.clear();
    // Calls already under way when back-off began fail too; only the first failure and each
    // failed probe start (or lengthen) a back-off period and log it, so the log gets one line
    // per period, not one per request.
    if (probe || backoff_ == Steady::duration::zero()) {
      const Steady::duration initial = config_.reconnect_backoff;
      const Steady::duration longest = config_.reconnect_backoff_max;
      backoff_ = backoff_ == Steady::duration::zero() ? initial : std::min(longest, backoff_ * 2);
      retry_at_ = Steady::now() + backoff_;
      spdlog::warn("redis {}: {}; rate limits {} until it answers (next attempt in {} ms)", config_.address, why,
                   config_.fail_open ? "admit everything (fail_open)" : "refuse everything (fail_open: false)",
                   as_millis(backoff_));
    }
    if (probe) probing_ = false;
  }
  for (redisContext* c : to_free) redisFree(c);
  context_freed_.notify_all();
  throw Error(fmt::format("redis {}: {}", config_.address, why));
}

RedisLimiterBackend::ScriptResult RedisLimiterBackend::run_script(std::span<const BucketRequest> requests, bool check) {
  for (const auto& r : requests)
    if (!(r.spec.rate > 0) || !(r.spec.burst > 0) || !std::isfinite(r.spec.rate) || !std::isfinite(r.spec.burst) ||
        !std::isfinite(r.cost))
      fail("redis limiter: bucket {}: rate and burst must be above 0 and the cost finite", r.key);

  std::vector<std::string> args;
  args.reserve(4 + 4 * requests.size());
  args.emplace_back("EVALSHA");
  args.emplace_back();  // the SHA1, or the script for EVAL
  args.push_back(std::to_string(requests.size()));
  for (const auto& r : requests) args.push_back(redis_key(r.key));
  args.emplace_back(check ? "a" : "j");
  for (const auto& r : requests) {
    args.push_back(number(r.spec.rate));
    args.push_back(number(r.spec.burst));
    args.push_back(number(r.cost));
  }
  std::vector<const char*> argv(args.size());
  std::vector<std::size_t> lengths(args.size());

  Reply reply;
  redisContext* c = nullptr;
  bool probe = false;
  for (int connection = 0; !reply; ++connection) {
    bool reused = false;
    c = take_context(probe, reused);
    // A pooled connection the server (or a proxy in between) closed while it sat idle fails at
    // once and says nothing about Redis now: retry once on a new connection. A timeout does say
    // something, and is never retried.
    const auto send = [&](int argc, const char** argv, const std::size_t* lengths, std::string_view what) -> bool {
      reply.reset(static_cast<redisReply*>(redisCommandArgv(c, argc, argv, lengths)));
      if (reply) return true;
      if (reused && connection == 0 && !timed_out(c)) {
        discard_idle(c);
        return false;
      }
      // No reply: refused, reset or timed out. A timed-out connection may still deliver the
      // late answer, so it is never reused.
      failed(c, probe, fmt::format("{}{}", what, describe(c, config_.timeout)));
    };

    std::string sha;
    {
      std::lock_guard lock(mutex_);
      sha = sha_;
    }
    if (sha.empty()) {
      const char* load[] = {"SCRIPT", "LOAD", kScript.data()};
      const std::size_t load_lengths[] = {6, 4, kScript.size()};
      if (!send(3, load, load_lengths, "SCRIPT LOAD: ")) continue;
      if (reply->type != REDIS_REPLY_STRING) {
        give_back(c, probe);
        errors_.fetch_add(1, std::memory_order_relaxed);
        fail("redis {}: SCRIPT LOAD: unexpected reply", config_.address);
      }
      sha.assign(reply->str, reply->len);
      std::lock_guard lock(mutex_);
      sha_ = sha;
    }

    bool sent = true;
    for (int attempt = 0; attempt < 2; ++attempt) {
      // EVALSHA first; NOSCRIPT (a restarted or flushed server) means EVAL, which caches it again.
      args[0] = attempt == 0 ? "EVALSHA" : "EVAL";
      args[1] = attempt == 0 ? sha : std::string(kScript);
      for (std::size_t i = 0; i < args.size(); ++i) {
        argv[i] = args[i].data();
        lengths[i] = args[i].size();
      }
      if (!send(static_cast<int>(argv.size()), argv.data(), lengths.data(), "")) {
        sent = false;
        break;
      }
      const bool noscript =
          reply->type == REDIS_REPLY_ERROR && std::string_view(reply->str, reply->len).starts_with("NOSCRIPT");
      if (!noscript) break;
    }
    if (!sent) reply.reset();
  }

  ScriptResult out;
  const redisReply* r = reply.get();
  const bool well_formed = r->type == REDIS_REPLY_ARRAY && r->elements == 3 && r->element[0]->type == REDIS_REPLY_INTEGER &&
                           r->element[1]->type == REDIS_REPLY_INTEGER && r->element[2]->type == REDIS_REPLY_STRING;
  if (!well_formed) {
    // The server answered, so the connection is fine; the error (a key of the wrong type, OOM,
    // a script error) is this call's. Not a reason for back-off.
    const std::string what = r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : "unexpected reply";
    give_back(c, probe);
    errors_.fetch_add(1, std::memory_order_relaxed);
    fail("redis {}: {}", config_.address, what);
  }
  out.allowed = r->element[0]->integer == 1;
  out.denied = r->element[1]->integer;
  out.retry_after_s = std::strtod(std::string(r->element[2]->str, r->element[2]->len).c_str(), nullptr);
  give_back(c, probe);
  return out;
}

BackendDecision RedisLimiterBackend::acquire(std::span<const BucketRequest> requests, Clock::time_point) {
  if (requests.empty()) return {};
  const ScriptResult r = run_script(requests, true);
  BackendDecision d;
  d.allowed = r.allowed;
  if (!r.allowed) {
    if (r.denied < 0 || static_cast<std::size_t>(r.denied) >= requests.size()) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      fail("redis {}: the limiter script named no refusing bucket", config_.address);
    }
    d.denied = static_cast<std::size_t>(r.denied);
    d.retry_after_s = std::isfinite(r.retry_after_s) ? std::max(0.0, r.retry_after_s) : 0.0;
  }
  return d;
}

void RedisLimiterBackend::adjust(const BucketRequest& request, Clock::time_point) {
  run_script(std::span(&request, 1), false);
}

}  // namespace tide::gateway
