#pragma once
// DeepSeek's weights on the GPU, layer by layer, as the CUDA forward pass reads them.
#include <memory>
#include <optional>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "model/checkpoint/checkpoint.h"
#include "model/config.h"
#include "model/cuda/device_weights.h"
#include "model/cuda/weight_source.h"
#include "model/model.h"

namespace tide::cuda {

struct MlaWeights {
  // The two projections of the hidden state, stacked so that one product computes both: q_proj
  // (without q_lora, V2-Lite) or q_a_proj (with q_lora), then kv_a_proj_with_mqa (latent + rope key).
  DeviceLinear q_and_kv_a;
  DeviceBuffer<bf16> q_a_norm;  // with q_lora
  DeviceLinear q_b_proj;        // with q_lora
  DeviceBuffer<bf16> kv_a_norm;
  // latent -> heads * (nope + v): W_UK and W_UV, head by head. An fp8 checkpoint's stays fp8 where
  // each head's W_UK and W_UV are whole 128-row blocks (DeepSeek-V3's 128 and 128).
  DeviceLinear kv_b_proj;
  // With kv_b_proj in fp8: W_UK[h]ᵀ head by head, [heads × kv_lora_rank, nope] with its block
  // scales, transposed once at load. The absorption q_nope · W_UK[h] contracts over W_UK's rows,
  // and the fp8 products read their operands depth-contiguous. The expanded prefill reads W_UK as
  // stored, so the keys' half is held twice: half of kv_b_proj's fp8 bytes again, a quarter less
  // than kv_b_proj alone in bf16.
  DeviceFp8Matrix keys_transposed;
  DeviceLinear o_proj;
};

struct MoeWeights {
  DeviceMatrix router;          // [experts, hidden]
  DeviceBuffer<float> bias;     // e_score_correction_bias (noaux_tc), else empty
  // The routed experts in bf16, or (fp8 checkpoints) as stored in fp8: one of the two is empty.
  std::vector<GatedMlpWeights> experts;
  std::vector<Fp8ExpertWeights> fp8_experts;
  // The experts' matrices by expert id, in device memory, for the kernels that pick the expert
  // on the device (moe_gemv_gate_up, moe_gemv_down, moe_grouped_gemm and its fp8 twin).
  DeviceBuffer<const bf16*> gate_up_by_expert, down_by_expert;
  DeviceBuffer<const uint8_t*> fp8_gate_up_by_expert, fp8_down_by_expert;
  DeviceBuffer<const float*> fp8_gate_up_scales_by_expert, fp8_down_scales_by_expert;
  std::optional<GatedMlpWeights> shared;

  bool fp8() const { return !fp8_experts.empty(); }
};

struct DeepSeekLayerWeights {
  DeviceBuffer<bf16> input_norm, post_attention_norm;
  MlaWeights attention;
  std::optional<GatedMlpWeights> dense;  // dense layers
  std::unique_ptr<MoeWeights> moe;       // MoE layers
};

using DeepSeekWeights = DecoderWeights<DeepSeekLayerWeights>;

// Claims and uploads every tensor of the checkpoint. Matrices stored in fp8 with 128×128 blocks
// stay fp8 (Fp8Weights::Native) where the fp8 products take their widths: the routed experts
// where both widths are whole blocks, projections and the other MLPs where their depth is
// (WeightSource::stacked).
DeepSeekWeights load_deepseek_weights(const Checkpoint& checkpoint, const ModelConfig& config,
                                      Fp8Weights fp8_weights = Fp8Weights::Native);

// `--load-format dummy`: every tensor of the config's shapes generated on the GPU, no checkpoint
// read. Matrices are uniform with variance 1/in (activations keep their scale through the layers),
// norms are 1, the router's bias 0; an fp8 config's fp8 matrices are e4m3 with one scale per
// 128×128 block, as its checkpoint would hold them. For benchmarks at real sizes; the output
// means nothing.
DeepSeekWeights dummy_deepseek_weights(const ModelConfig& config, uint64_t seed,
                                       Fp8Weights fp8_weights = Fp8Weights::Native);

}  // namespace tide::cuda
