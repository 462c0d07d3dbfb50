#pragma once
// Weight-only INT8 with one scale per output channel (row), symmetric: the row's largest
// magnitude maps to 127, so q = round(w / scale) with scale = max|w| / 127 (1 for an all-zero
// row), and w ≈ q · scale within scale / 2. Activations stay in the compute precision; the
// weights take a byte each instead of two (bf16) or four (f32).
#include "tensor/weight_matrix.h"

namespace tide {

// `w` as an I8 matrix (owning its bytes and scales). w must be F32 or BF16.
WeightMatrix quantize_int8_rows(const WeightMatrix& w);

}  // namespace tide
