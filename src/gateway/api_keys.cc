#include "gateway/api_keys.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace tide::gateway {
namespace {

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

double setting_number(std::string_view value, std::string_view name, double max, std::string_view where) {
  double out = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() || !std::isfinite(out) || out <= 0 ||
      out > max)
    fail("{}: {}: \"{}\" is not a number in (0, {}]", where, name, value, max);
  return out;
}

}  // namespace

std::string key_fingerprint(std::string_view key) { return to_hex(sha256(key)).substr(0, 8); }

std::string_view bearer_token(std::string_view authorization) {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size() || authorization.substr(0, kBearer.size()) != kBearer) return {};
  return authorization.substr(kBearer.size());
}

ApiKeys ApiKeys::parse(std::string_view text, std::string_view source) {
  ApiKeys out;
  std::size_t line_no = 0, pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find_first_of("\n;", pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    // Lines are counted by '\n' only, so an error points at the line an editor shows.
    if (pos == 0 || text[pos - 1] == '\n') ++line_no;
    pos = end + 1;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    const auto parts = words(line);
    if (parts.empty()) continue;
    const std::string where = fmt::format("{}: line {}", source, line_no);
    const std::string_view key = parts[0];
    if (key.size() < 16 || key.size() > 256) fail("{}: a key must be 16 to 256 characters long", where);
    for (char c : key)
      if (static_cast<unsigned char>(c) <= ' ' || static_cast<unsigned char>(c) >= 0x7f)
        fail("{}: a key must be printable ASCII", where);
    Entry entry{sha256(key), {key_fingerprint(key), "", {}}};
    for (const Entry& other : out.keys_)
      if (other.digest == entry.digest) fail("{}: the key {} is listed twice", where, entry.info.fingerprint);
    for (std::size_t i = 1; i < parts.size(); ++i) {
      const auto eq = parts[i].find('=');
      if (eq == std::string_view::npos) fail("{}: \"{}\" is not name=value", where, parts[i]);
      const std::string_view name = parts[i].substr(0, eq), value = parts[i].substr(eq + 1);
      auto& l = entry.info.limits;
      if (name == "user") {
        if (value.empty()) fail("{}: user: must not be empty", where);
        entry.info.user = std::string(value);
      } else if (name == "rps") l.requests_per_second = setting_number(value, name, 1e9, where);
      else if (name == "burst") l.burst = setting_number(value, name, 1e9, where);
      else if (name == "tpm") l.tokens_per_minute = setting_number(value, name, 1e15, where);
      else if (name == "token_burst") l.token_burst = setting_number(value, name, 1e15, where);
      else fail("{}: unknown setting \"{}\" (rps, burst, tpm, token_burst, user)", where, name);
    }
    out.keys_.push_back(std::move(entry));
  }
  return out;
}

ApiKeys ApiKeys::from_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open the API key file", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path.string());
}

ApiKeys ApiKeys::from_env(const std::string& variable) {
  const char* value = std::getenv(variable.c_str());
  if (!value) fail("env {}: not set", variable);
  return parse(value, "env " + variable);
}

ApiKeys ApiKeys::from_config(const AuthConfig& config) {
  ApiKeys out;
  if (!config.keys_file.empty()) out = from_file(config.keys_file);
  if (!config.keys_env.empty()) {
    ApiKeys env = from_env(config.keys_env);
    for (auto& entry : env.keys_) {
      for (const Entry& other : out.keys_)
        if (other.digest == entry.digest)
          fail("env {}: the key {} is also in {}", config.keys_env, entry.info.fingerprint, config.keys_file.string());
      out.keys_.push_back(std::move(entry));
    }
  }
  return out;
}

std::optional<KeyInfo> ApiKeys::authenticate(std::string_view presented) const {
  const Sha256Digest digest = sha256(presented);
  std::size_t found = keys_.size();
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    uint32_t diff = 0;
    for (std::size_t j = 0; j < digest.size(); ++j) diff |= static_cast<uint32_t>(digest[j] ^ keys_[i].digest[j]);
    // equal is 1 exactly when diff is 0, computed without a branch on the key's bytes.
    const std::size_t equal = (diff - 1) >> 31;
    const std::size_t mask = std::size_t{0} - equal;
    found = (found & ~mask) | (i & mask);
  }
  if (found == keys_.size()) return std::nullopt;
  return keys_[found].info;
}

}  // namespace tide::gateway
