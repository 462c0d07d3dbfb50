#pragma once
// Rotary position embedding frequencies for the scalings real checkpoints use: none, linear,
// YaRN (DeepSeek V2/V3, with its attention-scale mscale) and llama3 (R1-Distill-Llama).
// Computed in float32 as transformers does, so positions rotate by bit-identical angles.
#include <cstdint>
#include <vector>

#include "model/config.h"

namespace tide {

class RotaryEmbedding {
 public:
  RotaryEmbedding(const ModelConfig& config, int rotary_dim);

  int dim() const { return dim_; }
  bool interleaved() const { return interleaved_; }
  // cos and sin (dim/2 floats each) of `position`, already multiplied by YaRN's magnitude factor.
  void cos_sin(int64_t position, float* cos, float* sin) const;

 private:
  int dim_;
  bool interleaved_;
  float magnitude_ = 1.f;
  std::vector<float> inv_freq_;
};

// YaRN's attention-temperature correction: 0.1 * mscale * ln(factor) + 1 for factor > 1.
double yarn_mscale(double factor, double mscale);

// The softmax scale of DeepSeek's MLA: 1/sqrt(qk_head_dim), times mscale(factor,
// mscale_all_dim)² under YaRN.
float mla_softmax_scale(const ModelConfig& config);

}  // namespace tide
