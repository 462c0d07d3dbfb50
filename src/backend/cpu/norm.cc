#include <cmath>

#include "backend/cpu/ops.h"

namespace tide::cpu {

void rms_norm(const float* x, int64_t n, int64_t dim, const float* weight, double eps, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * dim;
    float* yi = y + i * dim;
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < dim; ++j) sum += xi[j] * xi[j];
    const float inv = 1.f / std::sqrt(sum / static_cast<float>(dim) + static_cast<float>(eps));
    for (int64_t j = 0; j < dim; ++j) yi[j] = xi[j] * inv * weight[j];
  }
}

}  // namespace tide::cpu
