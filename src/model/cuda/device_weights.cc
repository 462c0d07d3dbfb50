#include "model/cuda/device_weights.h"

#include <cstring>

#include "backend/cuda/cuda_check.h"
#include "common/error.h"
#include "tensor/dtype.h"

namespace tide::cuda {
namespace {

// Appends w's rows as bf16 bits.
void append_bf16_rows(const WeightMatrix& w, std::vector<uint16_t>& out) {
  if (w.dtype != DType::BF16 && w.dtype != DType::F32)
    fail("upload: a {} matrix cannot go to the GPU as bf16", dtype_name(w.dtype));
  const std::size_t n = static_cast<std::size_t>(w.rows * w.cols);
  const std::size_t start = out.size();
  out.resize(start + n);
  if (w.dtype == DType::BF16) {
    std::memcpy(out.data() + start, w.data, n * sizeof(uint16_t));
    return;
  }
  const float* src = static_cast<const float*>(w.data);
  for (std::size_t i = 0; i < n; ++i) out[start + i] = f32_to_bf16(src[i]);
}

DeviceBuffer<bf16> to_device(const std::vector<uint16_t>& bits) {
  DeviceBuffer<bf16> buffer(bits.size());
  if (!bits.empty())
    TIDE_CUDA_CHECK(cudaMemcpy(buffer.data(), bits.data(), bits.size() * sizeof(uint16_t), cudaMemcpyHostToDevice));
  return buffer;
}

}  // namespace

DeviceMatrix upload(const WeightMatrix& w) {
  std::vector<uint16_t> bits;
  append_bf16_rows(w, bits);
  return {w.rows, w.cols, to_device(bits)};
}

DeviceMatrix upload_stacked(const std::vector<WeightMatrix>& parts) {
  if (parts.empty()) fail("upload_stacked: no matrices");
  std::vector<uint16_t> bits;
  int64_t rows = 0;
  for (const WeightMatrix& part : parts) {
    if (part.cols != parts.front().cols) fail("upload_stacked: widths {} and {} differ", parts.front().cols, part.cols);
    append_bf16_rows(part, bits);
    rows += part.rows;
  }
  return {rows, parts.front().cols, to_device(bits)};
}

DeviceFp8Matrix upload_fp8(const std::vector<Fp8BlockMatrix>& parts) {
  if (parts.empty()) fail("upload_fp8: no matrices");
  const int64_t cols = parts.front().cols;
  int64_t rows = 0;
  std::size_t scale_count = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].cols != cols) fail("upload_fp8: widths {} and {} differ", cols, parts[i].cols);
    if (i + 1 < parts.size() && parts[i].rows % 128 != 0)
      fail("upload_fp8: {} rows above another matrix would split a 128-row scale block", parts[i].rows);
    rows += parts[i].rows;
    scale_count += parts[i].scales.size();
  }
  const int64_t padded = (rows + 127) / 128 * 128;
  DeviceFp8Matrix m{padded, cols, DeviceBuffer<uint8_t>(static_cast<std::size_t>(padded * cols)),
                    DeviceBuffer<float>(scale_count)};
  if (padded > rows) m.data.fill_bytes(0);  // the padding rows
  std::size_t bytes_at = 0, scales_at = 0;
  for (const Fp8BlockMatrix& part : parts) {
    TIDE_CUDA_CHECK(cudaMemcpy(m.data.data() + bytes_at, part.data.data(), part.data.size(), cudaMemcpyHostToDevice));
    TIDE_CUDA_CHECK(cudaMemcpy(m.scales.data() + scales_at, part.scales.data(), part.scales.size() * sizeof(float),
                               cudaMemcpyHostToDevice));
    bytes_at += part.data.size();
    scales_at += part.scales.size();
  }
  return m;
}

DeviceBuffer<bf16> upload_bf16(const std::vector<float>& values) {
  std::vector<uint16_t> bits(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) bits[i] = f32_to_bf16(values[i]);
  return to_device(bits);
}

}  // namespace tide::cuda
