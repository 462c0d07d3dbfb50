#pragma once
// The CPU backend's decoder ops (decoder_forward.h) over float32 rows: the embedding, the norms
// with their residual adds, the LM head. A family's CPU ops derive from these and add their
// blocks', each writing its output into block_output().
#include <cstdint>
#include <vector>

#include "model/batch.h"
#include "model/batch_layout.h"
#include "model/config.h"
#include "model/decoder_forward.h"
#include "model/weights.h"

namespace tide {

// What every family's decoder holds around its blocks.
struct DecoderWeights {
  WeightMatrix embed;
  WeightMatrix lm_head;
  std::vector<float> final_norm;
  std::vector<std::vector<float>> input_norm, post_attention_norm;  // per layer
};

class CpuDecoderOps {
 public:
  using Normed = const float*;  // [tokens, hidden]

  CpuDecoderOps(const DecoderWeights& weights, const ModelConfig& config, const Batch& batch);

  void embed();
  Normed norm(int layer, LayerNorm which);
  // Logits [batch.num_logit_rows(), vocab].
  std::vector<float> logits();

 protected:
  // Where a block writes its output [tokens, hidden]; the next norm adds it into the residual.
  float* block_output();

  const ModelConfig& config_;
  const Batch& batch_;
  const BatchLayout layout_;
  const int64_t tokens_;

 private:
  void add_pending();

  const DecoderWeights& weights_;
  std::vector<float> residual_, normed_, pending_;
  bool has_pending_ = false;
};

}  // namespace tide
