#pragma once
// DeepSeek's router variant (config.json's scoring_func, topk_method, groups, normalisation and
// scaling) as the CUDA routing kernel takes it; see RouterParams in backend/cuda/ops.h.
#include "backend/cuda/ops.h"
#include "model/config.h"

namespace tide::cuda {

RouterParams router_params(const ModelConfig& config);

}  // namespace tide::cuda
