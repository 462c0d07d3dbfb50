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

DeviceFp8Matrix upload_fp8_stacked(const Fp8BlockMatrix& top, const Fp8BlockMatrix& bottom) {
  if (top.cols != bottom.cols) fail("upload_fp8_stacked: widths {} and {} differ", top.cols, bottom.cols);
  if (top.rows % 128 != 0) fail("upload_fp8_stacked: {} rows on top would split a 128-row scale block", top.rows);
  DeviceFp8Matrix m{top.rows + bottom.rows, top.cols, DeviceBuffer<uint8_t>(top.data.size() + bottom.data.size()),
                    DeviceBuffer<float>(top.scales.size() + bottom.scales.size())};
  TIDE_CUDA_CHECK(cudaMemcpy(m.data.data(), top.data.data(), top.data.size(), cudaMemcpyHostToDevice));
  TIDE_CUDA_CHECK(cudaMemcpy(m.data.data() + top.data.size(), bottom.data.data(), bottom.data.size(),
                             cudaMemcpyHostToDevice));
  TIDE_CUDA_CHECK(cudaMemcpy(m.scales.data(), top.scales.data(), top.scales.size() * sizeof(float),
                             cudaMemcpyHostToDevice));
  TIDE_CUDA_CHECK(cudaMemcpy(m.scales.data() + top.scales.size(), bottom.scales.data(),
                             bottom.scales.size() * sizeof(float), cudaMemcpyHostToDevice));
  return m;
}

DeviceFp8Matrix upload_fp8(const Fp8BlockMatrix& w) {
  DeviceFp8Matrix m{w.rows, w.cols, DeviceBuffer<uint8_t>(w.data.size()), DeviceBuffer<float>(w.scales)};
  TIDE_CUDA_CHECK(cudaMemcpy(m.data.data(), w.data.data(), w.data.size(), cudaMemcpyHostToDevice));
  return m;
}

DeviceBuffer<bf16> upload_bf16(const std::vector<float>& values) {
  std::vector<uint16_t> bits(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) bits[i] = f32_to_bf16(values[i]);
  return to_device(bits);
}

}  // namespace tide::cuda
