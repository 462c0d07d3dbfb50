#include "model/weights.h"

#include <cstring>

#include "common/error.h"
#include "tensor/int8_quantization.h"

namespace tide {
namespace {

std::vector<float> to_f32(const TensorInfo& t) {
  std::vector<float> out(static_cast<std::size_t>(t.numel()));
  const std::byte* p = t.data.data();
  for (std::size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype) {
      case DType::F32: std::memcpy(&out[i], p + 4 * i, 4); break;
      case DType::BF16: {
        uint16_t b;
        std::memcpy(&b, p + 2 * i, 2);
        out[i] = bf16_to_f32(b);
        break;
      }
      case DType::F16: {
        uint16_t b;
        std::memcpy(&b, p + 2 * i, 2);
        out[i] = f16_to_f32(b);
        break;
      }
      case DType::F8_E4M3: out[i] = fp8_e4m3_to_f32(std::to_integer<uint8_t>(p[i])); break;
      default: fail("{}: tensor '{}' has dtype {}, which Tide does not read", t.file, t.name, dtype_name(t.dtype));
    }
  }
  return out;
}

bool aligned_for(const TensorInfo& t) {
  return reinterpret_cast<std::uintptr_t>(t.data.data()) % dtype_size(t.dtype) == 0;
}

}  // namespace

Quantization parse_quantization(const std::string& name) {
  if (name == "none") return Quantization::None;
  if (name == "int8") return Quantization::Int8;
  fail("--quantization must be none or int8 (got '{}')", name);
}

WeightMatrix WeightLoader::matrix(const std::string& name, int64_t rows, int64_t cols) {
  const TensorInfo& t = ckpt_.get(name, {rows, cols});
  if (quantization_ == Quantization::None) return claim(t, rows, cols);
  if (t.dtype == DType::F8_E4M3)
    fail("{}: --quantization int8 is for checkpoints stored in bf16 or f32; tensor '{}' is already fp8", t.file, name);
  const WeightMatrix stored = claim(t, rows, cols);
  WeightMatrix q = quantize_int8_rows(stored);
  matrix_bytes_ = matrix_bytes_ - stored.bytes() + q.bytes();  // counted as int8, not as stored
  return q;
}

WeightMatrix WeightLoader::exact(const std::string& name, int64_t rows, int64_t cols) {
  return claim(ckpt_.get(name, {rows, cols}), rows, cols);
}

WeightMatrix WeightLoader::claim(const TensorInfo& t, int64_t rows, int64_t cols) {
  WeightMatrix w;
  w.rows = rows;
  w.cols = cols;
  if (t.dtype == DType::F8_E4M3) {
    w = dequantize_fp8(t, rows, cols);
  } else if ((t.dtype == DType::BF16 || t.dtype == DType::F32) && aligned_for(t)) {
    w.dtype = t.dtype;
    w.data = t.data.data();
  } else {
    auto owned = std::make_shared<const std::vector<float>>(to_f32(t));
    w.dtype = DType::F32;
    w.data = owned->data();
    w.owned = std::move(owned);
  }
  matrix_bytes_ += w.bytes();
  return w;
}

WeightMatrix WeightLoader::dequantize_fp8(const TensorInfo& t, int64_t rows, int64_t cols) {
  if (!config_.fp8)
    fail("{}: tensor '{}' is float8 but config.json has no fp8 quantization_config", t.file, t.name);
  const int64_t br = config_.fp8->block_rows, bc = config_.fp8->block_cols;
  const int64_t srows = (rows + br - 1) / br, scols = (cols + bc - 1) / bc;
  const TensorInfo& s = ckpt_.get(t.name + "_scale_inv", {srows, scols});
  std::vector<float> scale = to_f32(s);
  auto out = std::make_shared<std::vector<float>>(to_f32(t));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) (*out)[r * cols + c] *= scale[(r / br) * scols + c / bc];
  WeightMatrix w;
  w.dtype = DType::F32;
  w.rows = rows;
  w.cols = cols;
  w.data = out->data();
  w.owned = std::move(out);
  return w;
}

std::optional<Fp8BlockMatrix> WeightLoader::fp8_blocks(const std::string& name, int64_t rows, int64_t cols) {
  const TensorInfo& t = ckpt_.get(name, {rows, cols});
  if (t.dtype != DType::F8_E4M3 || !config_.fp8 || config_.fp8->block_rows != 128 || config_.fp8->block_cols != 128)
    return std::nullopt;
  const TensorInfo& s = ckpt_.get(name + "_scale_inv", {(rows + 127) / 128, (cols + 127) / 128});
  Fp8BlockMatrix w;
  w.rows = rows;
  w.cols = cols;
  w.data = {reinterpret_cast<const uint8_t*>(t.data.data()), t.data.size()};
  w.scales = to_f32(s);
  return w;
}

std::vector<float> WeightLoader::vector(const std::string& name, int64_t size) {
  return to_f32(ckpt_.get(name, {size}));
}

}  // namespace tide
