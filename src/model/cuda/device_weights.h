#pragma once
// Weights as the CUDA forward pass reads them: bf16 rows in device memory. Matrices stored in
// bf16 are copied as they are; f32 and fp8 ones (the latter dequantized by WeightLoader) are
// rounded to bf16 once, at load.
#include <cstdint>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "backend/cuda/ops.h"
#include "tensor/weight_matrix.h"

namespace tide::cuda {

struct DeviceMatrix {
  int64_t rows = 0, cols = 0;
  DeviceBuffer<bf16> data;
};

DeviceMatrix upload(const WeightMatrix& w);
// The rows of `top` then those of `bottom` (same width) as one matrix: gate_proj and up_proj
// become one gate_up GEMM.
DeviceMatrix upload_stacked(const WeightMatrix& top, const WeightMatrix& bottom);
DeviceBuffer<bf16> upload_bf16(const std::vector<float>& values);

}  // namespace tide::cuda
