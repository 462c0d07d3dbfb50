#pragma once
// Weights as the CUDA forward pass reads them: bf16 rows in device memory, and the routed experts
// of fp8 checkpoints as stored (e4m3 with 128×128 block scales). Other matrices stored in bf16 are
// copied as they are; f32 and fp8 ones (the latter dequantized by WeightLoader) are rounded to
// bf16 once, at load.
#include <cstdint>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "backend/cuda/ops.h"
#include "model/weights.h"
#include "tensor/weight_matrix.h"

namespace tide::cuda {

struct DeviceMatrix {
  int64_t rows = 0, cols = 0;
  DeviceBuffer<bf16> data;
};

// A SwiGLU MLP's matrices: one GEMM for gate and up, then down.
struct GatedMlpWeights {
  DeviceMatrix gate_up;  // gate_proj rows, then up_proj rows
  DeviceMatrix down;
  int64_t intermediate() const { return down.cols; }
};

// What every decoder holds around its layers: the embedding table, the LM head (or the table, tied)
// and the final norm; and the layers, of the family's own kind.
template <class Layer>
struct DecoderWeights {
  DeviceMatrix embed;
  DeviceMatrix lm_head;  // empty when tied to embed
  DeviceBuffer<bf16> final_norm;
  std::vector<Layer> layers;
  std::size_t bytes = 0;  // every matrix, in device memory

  const DeviceMatrix& head() const { return lm_head.rows ? lm_head : embed; }
};

// An fp8 matrix as the fp8 expert GEMMs read it (moe_grouped_gemm_fp8): e4m3 bytes [rows, cols]
// and the 128×128 block scales [ceil(rows / 128), cols / 128], both as the checkpoint stores them.
struct DeviceFp8Matrix {
  int64_t rows = 0, cols = 0;
  DeviceBuffer<uint8_t> data;
  DeviceBuffer<float> scales;
  std::size_t bytes() const { return data.bytes() + scales.bytes(); }
};

DeviceMatrix upload(const WeightMatrix& w);
// `top`'s rows then `bottom`'s, scales likewise: top.rows must be a multiple of 128 so that the
// blocks stay whole.
DeviceFp8Matrix upload_fp8_stacked(const Fp8BlockMatrix& top, const Fp8BlockMatrix& bottom);
DeviceFp8Matrix upload_fp8(const Fp8BlockMatrix& w);
// The matrices' rows one after another (all of one width) as one matrix: gate_proj and up_proj
// become one gate_up GEMM, q, k and v one projection.
DeviceMatrix upload_stacked(const std::vector<WeightMatrix>& parts);
DeviceBuffer<bf16> upload_bf16(const std::vector<float>& values);

}  // namespace tide::cuda
