#include "backend/cpu/ops.h"

namespace tide::cpu {

void apply_rope(float* v, int64_t dim, const float* cos, const float* sin, bool interleaved) {
  const int64_t half = dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    float* a = interleaved ? v + 2 * i : v + i;
    float* b = interleaved ? v + 2 * i + 1 : v + i + half;
    const float x0 = *a, x1 = *b;
    *a = x0 * cos[i] - x1 * sin[i];
    *b = x1 * cos[i] + x0 * sin[i];
  }
}

}  // namespace tide::cpu
