#pragma once
// Cached responses of deterministic requests, served when every replica of the routed pool is
// down (RouteReason::AllDown) so a degraded gateway still answers repeated requests.
//
// Only requests whose output cannot vary are cached: temperature present and 0 (the OpenAI
// default is 1) and n absent or 1; with greedy decoding the seed changes nothing. The key is
// the SHA-256 of scope, model and the canonical request body (object keys sorted, `user`
// dropped: it names the caller, it does not change the output). `scope` lets the proxy keep
// tenants apart (e.g. the API key fingerprint); empty shares entries across callers.
//
// LRU, bounded by max_entries and max_bytes (body + content type + key); entries older than
// ttl are never returned. Time is passed in. Thread-safe.
#include <nlohmann/json.hpp>

#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gateway/gateway_config.h"
#include "gateway/token_bucket.h"

namespace tide::gateway {

struct CachedResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class ResponseCache {
 public:
  explicit ResponseCache(ResponseCacheConfig config);

  // The cache key of a request body, or nullopt when its output may vary.
  static std::optional<std::string> key_for(const nlohmann::json& body, std::string_view scope = {});

  // An entry larger than max_bytes is not stored.
  void put(const std::string& key, CachedResponse response, Clock::time_point now);
  std::optional<CachedResponse> get(const std::string& key, Clock::time_point now);
  std::size_t size() const;
  std::size_t bytes() const;

 private:
  struct Entry {
    std::string key;
    CachedResponse response;
    Clock::time_point stored;
    std::size_t bytes;
  };
  void erase(std::list<Entry>::iterator it);

  ResponseCacheConfig config_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  std::size_t bytes_ = 0;
};

}  // namespace tide::gateway
