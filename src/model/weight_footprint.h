#pragma once
// How many weight bytes one decode token reads: what bounds decode speed on a memory-bound
// machine. For MoE only the routed and shared experts a token uses count; of the embedding
// table only one row.
#include <cstdint>

#include "model/config.h"

namespace tide {

// Parameters read per decoded token at batch size 1.
uint64_t decode_params_per_token(const ModelConfig& config);

}  // namespace tide
