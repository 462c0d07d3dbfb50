#include "tensor/int8_quantization.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/error_type.h"

namespace tide {
namespace {

// The bytes and the scales in one allocation, owned by the matrix.
struct Int8Storage {
  std::vector<int8_t> values;
  std::vector<float> scales;
};

}  // namespace

WeightMatrix quantize_int8_rows(const WeightMatrix& w) {
  if (w.dtype != DType::F32 && w.dtype != DType::BF16) throw Error("quantize_int8_rows: the matrix must be f32 or bf16");
  auto storage = std::make_shared<Int8Storage>();
  storage->values.resize(static_cast<std::size_t>(w.rows * w.cols));
  storage->scales.resize(static_cast<std::size_t>(w.rows));
  std::vector<float> row(static_cast<std::size_t>(w.cols));
  for (int64_t i = 0; i < w.rows; ++i) {
    w.row_to_f32(i, row.data());
    float amax = 0.f;
    for (float v : row) amax = std::max(amax, std::fabs(v));
    const float scale = amax > 0.f ? amax / 127.f : 1.f;
    storage->scales[i] = scale;
    int8_t* out = storage->values.data() + i * w.cols;
    for (int64_t j = 0; j < w.cols; ++j)
      out[j] = static_cast<int8_t>(std::clamp(std::nearbyint(row[j] / scale), -127.f, 127.f));
  }
  WeightMatrix q;
  q.dtype = DType::I8;
  q.rows = w.rows;
  q.cols = w.cols;
  q.data = storage->values.data();
  q.row_scales = storage->scales.data();
  q.owned = std::move(storage);
  return q;
}

}  // namespace tide
