#pragma once
// API keys: who may call the gateway, and each key's own limit overrides.
//
// Format (a file, or an environment variable holding the same text, where ';' also ends an
// entry): one key per line, optionally followed by settings; '#' starts a comment.
//     sk-team-a-0123456789abcdef  user=team-a rps=20 burst=40 tpm=200000 token_burst=400000
// rps/burst/tpm/token_burst replace requests_per_second/burst/tokens_per_minute/token_burst
// of the limit rules keyed by api_key; user= names the key's owner for rules keyed by user.
// Keys are 16 to 256 printable ASCII characters without spaces.
//
// Keys never appear in error messages or logs: errors name the line, logs use the
// fingerprint (the first 8 hex digits of the key's SHA-256).
//
// Lookup is constant-time in the key: the presented key is hashed with SHA-256 and compared
// with every stored digest by a compare that does not stop at the first difference, and
// without stopping at a match. The digest makes every comparison the same length (a plain
// compare would leak the key's length and matching prefix). SHA-256 rather than FNV: a
// fingerprint is logged, and with a non-cryptographic hash a logged prefix of the digest
// would help forge a colliding key.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/rate_limiter.h"
#include "gateway/sha256.h"

namespace tide::gateway {

struct KeyInfo {
  std::string fingerprint;  // safe to log and to use as RequestIdentity::api_key_id
  std::string user;         // empty unless set with user=
  LimitOverride limits;
};

class ApiKeys {
 public:
  // `source` names the input in errors (a path, or "env TIDE_KEYS").
  static ApiKeys parse(std::string_view text, std::string_view source);
  static ApiKeys from_file(const std::filesystem::path& path);
  static ApiKeys from_env(const std::string& variable);
  // The keys of auth config: file and env var together (either may be unset).
  static ApiKeys from_config(const AuthConfig& config);

  // The key's info when `presented` is a known key. Thread-safe (immutable after loading).
  std::optional<KeyInfo> authenticate(std::string_view presented) const;
  std::size_t size() const { return keys_.size(); }

 private:
  struct Entry {
    Sha256Digest digest;
    KeyInfo info;
  };
  std::vector<Entry> keys_;
};

// The fingerprint a key is logged under.
std::string key_fingerprint(std::string_view key);
// The key of an "Authorization: Bearer <key>" header value; empty when it is not one.
std::string_view bearer_token(std::string_view authorization);

}  // namespace tide::gateway
