#pragma once
// A 2-D weight [rows = out_features, cols = in_features] in the precision it is stored in.
// bf16 and f32 weights point straight into the memory-mapped checkpoint; fp8 block-scaled and
// f16 weights are dequantized to f32 once at load (the CPU path's documented choice: exact, and
// the GPU path keeps them in their stored form). I8 weights (`--quantization int8`) hold one
// signed byte per weight and one f32 scale per row: w[i][j] = q[i][j] * row_scales[i].
#include <cstdint>
#include <memory>
#include <vector>

#include "tensor/dtype.h"

namespace tide {

struct WeightMatrix {
  DType dtype = DType::F32;  // F32, BF16 or I8
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;
  std::shared_ptr<const void> owned;  // set when the data was converted at load
  const float* row_scales = nullptr;  // I8: one per row, inside `owned`

  // Row i as float32 into `out` (cols floats).
  void row_to_f32(int64_t i, float* out) const {
    if (dtype == DType::F32) {
      const float* src = static_cast<const float*>(data) + i * cols;
      for (int64_t j = 0; j < cols; ++j) out[j] = src[j];
    } else if (dtype == DType::I8) {
      const int8_t* src = static_cast<const int8_t*>(data) + i * cols;
      const float scale = row_scales[i];
      for (int64_t j = 0; j < cols; ++j) out[j] = static_cast<float>(src[j]) * scale;
    } else {
      const uint16_t* src = static_cast<const uint16_t*>(data) + i * cols;
      for (int64_t j = 0; j < cols; ++j) out[j] = bf16_to_f32(src[j]);
    }
  }
  std::size_t bytes() const {
    return static_cast<std::size_t>(rows * cols) * dtype_size(dtype) +
           (dtype == DType::I8 ? static_cast<std::size_t>(rows) * sizeof(float) : 0);
  }
};

}  // namespace tide
