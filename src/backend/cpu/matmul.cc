#include <algorithm>
#include <vector>

#include "backend/cpu/ops.h"

namespace tide::cpu {
namespace {

// Rows of W converted to f32 together: small enough to stay in L2 (kTile * cols * 4 bytes),
// large enough to amortise each activation row's load over several dot products.
constexpr int64_t kTile = 8;

inline float dot(const float* a, const float* b, int64_t n) {
  float acc = 0.f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

}  // namespace

void matmul(const float* x, int64_t n, const WeightMatrix& w, float* y, const float* bias) {
  const int64_t rows = w.rows, cols = w.cols;
  const int64_t tiles = (rows + kTile - 1) / kTile;
#pragma omp parallel
  {
    std::vector<float> buffer(w.dtype == DType::F32 ? 0 : kTile * cols);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t r0 = t * kTile, r1 = std::min(rows, r0 + kTile);
      const float* tile;
      if (w.dtype == DType::F32) {
        tile = static_cast<const float*>(w.data) + r0 * cols;
      } else {
        for (int64_t r = r0; r < r1; ++r) w.row_to_f32(r, buffer.data() + (r - r0) * cols);
        tile = buffer.data();
      }
      for (int64_t i = 0; i < n; ++i) {
        const float* xi = x + i * cols;
        float* yi = y + i * rows;
        for (int64_t r = r0; r < r1; ++r)
          yi[r] = dot(xi, tile + (r - r0) * cols, cols) + (bias ? bias[r] : 0.f);
      }
    }
  }
}

}  // namespace tide::cpu
