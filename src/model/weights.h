#pragma once
// Claims tensors from a checkpoint in the shapes the config implies, in the CPU path's compute
// forms: bf16/f32 matrices stay mapped; f16 and fp8 (with its 128x128 block scales) are
// dequantized to f32; vectors (norms, biases) become f32.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "model/checkpoint/checkpoint.h"
#include "model/config.h"
#include "tensor/weight_matrix.h"

namespace tide {

// Weight-only quantization applied at load (`--quantization`). Int8: every matrix claimed with
// matrix() becomes per-row int8 (tensor/int8_quantization.h); for checkpoints stored in bf16 or
// f32.
enum class Quantization { None, Int8 };

// "none" or "int8" (the CLI's --quantization); throws tide::Error for anything else.
Quantization parse_quantization(const std::string& name);

// A matrix as DeepSeek-V3's fp8 checkpoints store it: e4m3 bytes [rows, cols], mapped from the
// file, and the fp32 scale of each 128×128 block (weight_scale_inv, [ceil(rows / 128),
// ceil(cols / 128)] row-major): W ≈ w · scale.
struct Fp8BlockMatrix {
  int64_t rows = 0, cols = 0;
  std::span<const uint8_t> data;
  std::vector<float> scales;
};

class WeightLoader {
 public:
  WeightLoader(const Checkpoint& checkpoint, const ModelConfig& config, Quantization quantization = Quantization::None)
      : ckpt_(checkpoint), config_(config), quantization_(quantization) {}

  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols);
  // Claimed as stored, never quantized: the embedding table (looked up by row, not multiplied)
  // and the MoE routers (a small error there moves a token to another expert).
  WeightMatrix exact(const std::string& name, int64_t rows, int64_t cols);
  std::vector<float> vector(const std::string& name, int64_t size);
  // The tensor as stored, when it is fp8 in 128×128 blocks (the GPU multiplies those in fp8);
  // nullopt when it is stored otherwise. Not counted in matrix_bytes(): the caller counts what
  // it keeps (a caller may still fall back to matrix() for the same tensor).
  std::optional<Fp8BlockMatrix> fp8_blocks(const std::string& name, int64_t rows, int64_t cols);

  // Total bytes of the matrices claimed so far, in their in-memory form.
  std::size_t matrix_bytes() const { return matrix_bytes_; }

 private:
  WeightMatrix dequantize_fp8(const TensorInfo& weight, int64_t rows, int64_t cols);
  // The tensor in the CPU path's form (mapped, or widened to f32), counted in matrix_bytes().
  WeightMatrix claim(const TensorInfo& tensor, int64_t rows, int64_t cols);

  const Checkpoint& ckpt_;
  const ModelConfig& config_;
  Quantization quantization_;
  std::size_t matrix_bytes_ = 0;
};

}  // namespace tide
