#pragma once
// Weights as the CUDA forward pass reads them: bf16 rows in device memory, and the fp8 matrices of
// fp8 checkpoints as stored (e4m3 with 128×128 block scales: the routed experts, and every
// projection whose widths the fp8 products take). Other matrices stored in bf16 are copied as they
// are; f32 ones, and fp8 ones of other widths (dequantized by WeightLoader), are rounded to bf16
// once, at load.
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

// An fp8 matrix as the fp8 products read it (gemv_fp8, Gemm::fp8_block_nt, the expert GEMMs):
// e4m3 bytes [rows, cols] and the 128×128 block scales [ceil(rows / 128), cols / 128], both as
// the checkpoint stores them. A projection read at its own width may have its rows padded to whole
// blocks of 128 (V3's kv_a_proj_with_mqa has 576; WeightSource::RowPadding), as its block scales
// already are: zero rows from a checkpoint, random ones from the dummy source.
struct DeviceFp8Matrix {
  int64_t rows = 0, cols = 0;
  DeviceBuffer<uint8_t> data;
  DeviceBuffer<float> scales;
  std::size_t bytes() const { return data.bytes() + scales.bytes(); }
};

// A projection as the forward pass multiplies it (CudaModelBase::linear): bf16 rows, or an fp8
// checkpoint's matrix as stored. One of the two is empty.
struct DeviceLinear {
  DeviceMatrix weight;  // bf16
  DeviceFp8Matrix fp8;

  bool is_fp8() const { return fp8.rows > 0; }
  // The width of the product's rows (an fp8 matrix's padding included).
  int64_t rows() const { return is_fp8() ? fp8.rows : weight.rows; }
  int64_t cols() const { return is_fp8() ? fp8.cols : weight.cols; }
  std::size_t bytes() const { return weight.data.bytes() + fp8.bytes(); }
};
// A SwiGLU MLP's matrices: one product for gate and up, then down.
struct GatedMlpWeights {
  DeviceLinear gate_up;  // gate_proj rows, then up_proj rows
  DeviceLinear down;
  int64_t intermediate() const { return down.cols(); }
  bool is_fp8() const { return gate_up.is_fp8() || down.is_fp8(); }
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

DeviceMatrix upload(const WeightMatrix& w);
// The parts' rows one after another, scales likewise, then zero rows to a whole block of 128 rows:
// every part but the last must have whole blocks of rows, so that the blocks stay whole.
DeviceFp8Matrix upload_fp8(const std::vector<Fp8BlockMatrix>& parts);
// The matrices' rows one after another (all of one width) as one matrix: gate_proj and up_proj
// become one gate_up GEMM, q, k and v one projection.
DeviceMatrix upload_stacked(const std::vector<WeightMatrix>& parts);
DeviceBuffer<bf16> upload_bf16(const std::vector<float>& values);

}  // namespace tide::cuda
