#pragma once
// How many weight bytes one decode token reads: what bounds decode speed on a memory-bound
// machine. For MoE only the routed and shared experts a token uses count; of the embedding
// table only one row.
#include <cstdint>

#include "model/config.h"

namespace tide {

// Parameters read per decoded token at batch size 1.
uint64_t decode_params_per_token(const ModelConfig& config);

// Parameters one decode step of `batch` tokens reads: every dense weight once, the embedding rows
// of the batch, and per MoE layer the experts the batch touches, expected under uniform routing:
// E·(1 − (1 − k/E)^batch) of the E routed experts (exactly k at batch 1; all of them once the
// batch's B·k choices cover the pool).
double decode_params_per_step(const ModelConfig& config, int batch);

// Routed experts of one MoE layer a decode step of `batch` tokens reads, under uniform routing
// (the count decode_params_per_step assumes).
double touched_experts(const ModelConfig& config, int batch);

// Matrix parameters one token's forward pass multiplies by (2 FLOPs each): what bounds prefill.
// The embedding lookup is not a product; the LM head counts only for rows that need logits, so it
// is left to the caller.
uint64_t forward_matmul_params_per_token(const ModelConfig& config);

}  // namespace tide
