#pragma once
// Chained block hashes of a prompt, as vLLM keys its prefix cache: the prompt is cut into
// fixed-size blocks and h[i] = hash(h[i-1], block i), so h[i] names the whole prefix of i + 1
// blocks and two prompts share h[i] exactly when they share those blocks. A trailing partial
// block is not hashed (the replica cannot reuse a partial block either), except that a prompt
// shorter than one block hashes whole, so short prompts still spread over the ring.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace tide::gateway {

std::vector<uint64_t> prefix_block_hashes(std::string_view text, std::size_t block_size, std::size_t max_blocks);
std::vector<uint64_t> prefix_block_hashes(std::span<const int32_t> tokens, std::size_t block_size,
                                          std::size_t max_blocks);

}  // namespace tide::gateway
