#include <algorithm>
#include <vector>

#include "backend/cpu/ops.h"

namespace tide::cpu {

void attention(const AttentionArgs& a) {
  const int64_t group = a.num_heads / a.num_kv_heads;
  const int64_t pairs = a.q_tokens * a.num_heads;
#pragma omp parallel
  {
    std::vector<float> scores(a.ctx_len);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < pairs; ++p) {
      const int64_t i = p / a.num_heads, h = p % a.num_heads, g = h / group;
      const int64_t visible = std::min(a.ctx_len, a.q_start + i + 1);
      const float* q = a.q + (i * a.num_heads + h) * a.qk_dim;
      for (int64_t j = 0; j < visible; ++j) {
        const float* k = a.k + j * a.k_stride + g * a.qk_dim;
        float s = 0.f;
#pragma omp simd reduction(+ : s)
        for (int64_t d = 0; d < a.qk_dim; ++d) s += q[d] * k[d];
        scores[j] = s * a.scale;
      }
      softmax(scores.data(), visible);
      float* out = a.out + (i * a.num_heads + h) * a.v_dim;
      std::fill(out, out + a.v_dim, 0.f);
      for (int64_t j = 0; j < visible; ++j) {
        const float* v = a.v + j * a.v_stride + g * a.v_dim;
        const float w = scores[j];
#pragma omp simd
        for (int64_t d = 0; d < a.v_dim; ++d) out[d] += w * v[d];
      }
    }
  }
}

}  // namespace tide::cpu
