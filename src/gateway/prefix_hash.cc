#include "gateway/prefix_hash.h"

#include <algorithm>

#include "gateway/balancer.h"

namespace tide::gateway {
namespace {

std::vector<uint64_t> chain(std::string_view bytes, std::size_t block_bytes, std::size_t max_blocks) {
  std::vector<uint64_t> out;
  if (bytes.empty() || block_bytes == 0 || max_blocks == 0) return out;
  if (bytes.size() < block_bytes) {
    out.push_back(hash_bytes(bytes, 0));
    return out;
  }
  const std::size_t blocks = std::min(bytes.size() / block_bytes, max_blocks);
  out.reserve(blocks);
  uint64_t h = 0;
  for (std::size_t i = 0; i < blocks; ++i) {
    h = hash_bytes(bytes.substr(i * block_bytes, block_bytes), h);
    out.push_back(h);
  }
  return out;
}

}  // namespace

std::vector<uint64_t> prefix_block_hashes(std::string_view text, std::size_t block_size, std::size_t max_blocks) {
  return chain(text, block_size, max_blocks);
}

std::vector<uint64_t> prefix_block_hashes(std::span<const int32_t> tokens, std::size_t block_size,
                                          std::size_t max_blocks) {
  // Token ids hashed as their bytes: equal id sequences give equal hashes on one machine,
  // which is all a gateway needs (the hashes never leave the process).
  const std::string_view bytes(reinterpret_cast<const char*>(tokens.data()), tokens.size_bytes());
  return chain(bytes, block_size * sizeof(int32_t), max_blocks);
}

}  // namespace tide::gateway
