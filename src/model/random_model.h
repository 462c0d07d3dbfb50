#pragma once
// DeepSeek-V3-architecture checkpoints with deterministic random weights: the built-in demo
// model (so `tide serve` runs on a fresh machine with no download) and larger models for
// benchmarks. Their output is meaningless text; they exist to exercise the real code paths.
#include <cstdint>
#include <filesystem>
#include <string>

namespace tide {

struct RandomDeepSeekShape {
  int vocab_size = 129280;  // DeepSeek-V3's, so the real tokenizer fits
  int hidden_size = 256;
  int intermediate_size = 512;
  int num_layers = 4;
  int first_k_dense_replace = 1;
  int num_heads = 4;
  int q_lora_rank = 128;
  int kv_lora_rank = 64;
  int qk_nope_head_dim = 32;
  int qk_rope_head_dim = 16;
  int v_head_dim = 32;
  int n_routed_experts = 16;
  int n_shared_experts = 1;
  int num_experts_per_tok = 4;
  int n_group = 4;
  int topk_group = 2;
  int moe_intermediate_size = 128;
  int max_position_embeddings = 16384;
  // Every projection and MLP matrix stored as DeepSeek-V3's checkpoints store them: e4m3 with a
  // weight_scale_inv per 128×128 block (amax / 448), the config saying so. The embedding, the LM
  // head and the router stay bf16, as in V3's.
  bool fp8 = false;
};

// The demo model's shape (about 140 MB of bf16, dominated by the 129k-entry vocabulary).
RandomDeepSeekShape demo_model_shape();

// Writes config.json and model.safetensors (bf16, or fp8 where shape.fp8 says) of a random model into `dir`. The same seed
// gives the same bytes on every machine.
void write_random_deepseek(const std::filesystem::path& dir, const RandomDeepSeekShape& shape, uint64_t seed);

// Bytes of weights the shape has (for sizing benchmark models).
uint64_t random_deepseek_weight_bytes(const RandomDeepSeekShape& shape);

}  // namespace tide
