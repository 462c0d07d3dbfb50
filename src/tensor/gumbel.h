#pragma once
// Sampling from softmax(logits / T) as argmax(logits / T + Gumbel noise): one pass over the row,
// no sort and no normalisation, so a GPU can pick sampled tokens where the logits are
// (Model::step). Token i's noise is a fixed function of (seed, i), the same on the host and on
// the device.
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define TIDE_HOST_DEVICE __host__ __device__
#else
#define TIDE_HOST_DEVICE
#endif

namespace tide {

TIDE_HOST_DEVICE inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// -log(-log(u)) for u uniform in (0, 1) drawn from (seed, index).
TIDE_HOST_DEVICE inline float gumbel_noise(uint64_t seed, int64_t index) {
  const uint64_t z = mix64(seed + 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(index + 1));
  const float u = (static_cast<float>(z >> 40) + 0.5f) * 0x1.0p-24f;
  return -logf(-logf(u));
}

// The seed of one sampling step of a sequence: its request's seed and the step's index.
TIDE_HOST_DEVICE inline uint64_t step_seed(uint64_t request_seed, int64_t step) {
  return mix64(request_seed ^ mix64(static_cast<uint64_t>(step) + 0x632be59bd9b4e019ull));
}

}  // namespace tide

#undef TIDE_HOST_DEVICE
