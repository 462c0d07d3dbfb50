#pragma once
// Claims tensors from a checkpoint in the shapes the config implies, in the CPU path's compute
// forms: bf16/f32 matrices stay mapped; f16 and fp8 (with its 128x128 block scales) are
// dequantized to f32; vectors (norms, biases) become f32.
#include <string>
#include <vector>

#include "model/checkpoint/checkpoint.h"
#include "model/config.h"
#include "tensor/weight_matrix.h"

namespace tide {

class WeightLoader {
 public:
  WeightLoader(const Checkpoint& checkpoint, const ModelConfig& config) : ckpt_(checkpoint), config_(config) {}

  WeightMatrix matrix(const std::string& name, int64_t rows, int64_t cols);
  std::vector<float> vector(const std::string& name, int64_t size);

  // Total bytes of the matrices claimed so far, in their in-memory form.
  std::size_t matrix_bytes() const { return matrix_bytes_; }

 private:
  WeightMatrix dequantize_fp8(const TensorInfo& weight, int64_t rows, int64_t cols);

  const Checkpoint& ckpt_;
  const ModelConfig& config_;
  std::size_t matrix_bytes_ = 0;
};

}  // namespace tide
