#include "gateway/response_cache.h"

#include "gateway/sha256.h"

namespace tide::gateway {

ResponseCache::ResponseCache(ResponseCacheConfig config) : config_(config) {}

std::optional<std::string> ResponseCache::key_for(const nlohmann::json& body, std::string_view scope) {
  if (!body.is_object()) return std::nullopt;
  const auto model = body.find("model");
  if (model == body.end() || !model->is_string()) return std::nullopt;
  const auto temperature = body.find("temperature");
  if (temperature == body.end() || !temperature->is_number() || temperature->get<double>() != 0.0) return std::nullopt;
  if (const auto n = body.find("n"); n != body.end() && !(n->is_number_integer() && n->get<int64_t>() == 1))
    return std::nullopt;
  nlohmann::json canonical = body;
  canonical.erase("user");
  // nlohmann::json objects are std::map-backed, so dump() writes keys sorted: a canonical form.
  std::string text(scope);
  text += '\0';
  text += model->get<std::string>();
  text += '\0';
  text += canonical.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return to_hex(sha256(text));
}

void ResponseCache::erase(std::list<Entry>::iterator it) {
  bytes_ -= it->bytes;
  index_.erase(it->key);
  lru_.erase(it);
}

void ResponseCache::put(const std::string& key, CachedResponse response, Clock::time_point now) {
  const std::size_t size = key.size() + response.body.size() + response.content_type.size();
  if (size > config_.max_bytes) return;
  std::lock_guard lock(mutex_);
  if (const auto it = index_.find(key); it != index_.end()) erase(it->second);
  lru_.push_front({key, std::move(response), now, size});
  index_[key] = lru_.begin();
  bytes_ += size;
  while (bytes_ > config_.max_bytes || lru_.size() > config_.max_entries) erase(std::prev(lru_.end()));
}

std::optional<CachedResponse> ResponseCache::get(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  const auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  if (now - it->second->stored >= config_.ttl) {
    erase(it->second);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->response;
}

std::size_t ResponseCache::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

std::size_t ResponseCache::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace tide::gateway
