#pragma once
// Llama's and Qwen2's weights on the GPU (the DeepSeek-R1-Distill models), layer by layer, as the
// CUDA forward pass reads them: bf16, q, k and v stacked into one projection.
#include <cstdint>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "model/checkpoint/checkpoint.h"
#include "model/config.h"
#include "model/cuda/device_weights.h"

namespace tide::cuda {

struct LlamaLayerWeights {
  DeviceBuffer<bf16> input_norm, post_attention_norm;
  DeviceLinear qkv;              // q_proj rows, then k_proj's, then v_proj's: one GEMM
  DeviceBuffer<float> qkv_bias;  // Qwen2's q, k and v biases, stacked likewise; empty without
  DeviceLinear o_proj;
  GatedMlpWeights mlp;
};

using LlamaWeights = DecoderWeights<LlamaLayerWeights>;

// Claims and uploads every tensor of the checkpoint (bf16; f32 ones rounded to bf16).
LlamaWeights load_llama_weights(const Checkpoint& checkpoint, const ModelConfig& config);

// `--load-format dummy`: every tensor of the config's shapes generated on the GPU, as
// dummy_source makes them. For benchmarks at real sizes; the output means nothing.
LlamaWeights dummy_llama_weights(const ModelConfig& config, uint64_t seed);

}  // namespace tide::cuda
