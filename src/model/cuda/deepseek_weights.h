#pragma once
// DeepSeek's weights on the GPU, layer by layer, as the CUDA forward pass reads them.
#include <memory>
#include <optional>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "model/checkpoint/checkpoint.h"
#include "model/config.h"
#include "model/cuda/device_weights.h"

namespace tide::cuda {

struct MlaWeights {
  // The two projections of the hidden state, stacked so that one GEMM computes both: q_proj
  // (without q_lora, V2-Lite) or q_a_proj (with q_lora), then kv_a_proj_with_mqa (latent + rope key).
  DeviceMatrix q_and_kv_a;
  DeviceBuffer<bf16> q_a_norm;  // with q_lora
  DeviceMatrix q_b_proj;        // with q_lora
  DeviceBuffer<bf16> kv_a_norm;
  DeviceMatrix kv_b_proj;  // latent -> heads * (nope + v): W_UK and W_UV, head by head
  DeviceMatrix o_proj;
};

struct GatedMlpWeights {
  DeviceMatrix gate_up;  // gate_proj rows, then up_proj rows
  DeviceMatrix down;
  int64_t intermediate() const { return down.cols; }
};

struct MoeWeights {
  DeviceMatrix router;          // [experts, hidden]
  DeviceBuffer<float> bias;     // e_score_correction_bias (noaux_tc), else empty
  std::vector<GatedMlpWeights> experts;
  // The experts' matrices by expert id, in device memory, for the decode-sized kernels that pick
  // the expert on the device (moe_gate_up_gemv, moe_down_gemv).
  DeviceBuffer<const bf16*> gate_up_by_expert, down_by_expert;
  std::optional<GatedMlpWeights> shared;
};

struct DeepSeekLayerWeights {
  DeviceBuffer<bf16> input_norm, post_attention_norm;
  MlaWeights attention;
  std::optional<GatedMlpWeights> dense;  // dense layers
  std::unique_ptr<MoeWeights> moe;       // MoE layers
};

struct DeepSeekWeights {
  DeviceMatrix embed;
  DeviceMatrix lm_head;  // empty when tied to embed
  DeviceBuffer<bf16> final_norm;
  std::vector<DeepSeekLayerWeights> layers;
  std::size_t bytes = 0;  // every matrix, in device memory

  const DeviceMatrix& head() const { return lm_head.rows ? lm_head : embed; }
};

// Claims and uploads every tensor of the checkpoint.
DeepSeekWeights load_deepseek_weights(const Checkpoint& checkpoint, const ModelConfig& config);

// `--load-format dummy`: every tensor of the config's shapes generated on the GPU, no checkpoint
// read. Matrices are uniform with variance 1/in (activations keep their scale through the layers),
// norms are 1, the router's bias 0. For benchmarks at real sizes; the output means nothing.
DeepSeekWeights dummy_deepseek_weights(const ModelConfig& config, uint64_t seed);

}  // namespace tide::cuda
