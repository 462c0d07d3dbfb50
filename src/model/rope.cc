#include "model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace tide {
namespace {

constexpr float kPi = std::numbers::pi_v<float>;

std::vector<float> default_inv_freq(double theta, int dim) {
  std::vector<float> inv(dim / 2);
  for (int i = 0; i < dim / 2; ++i)
    inv[i] = 1.f / std::pow(static_cast<float>(theta), static_cast<float>(2 * i) / static_cast<float>(dim));
  return inv;
}

// YaRN (Peng et al. 2023): interpolate low frequencies by `factor`, keep high frequencies,
// ramp linearly between the dimensions found from beta_fast and beta_slow.
std::vector<float> yarn_inv_freq(const ModelConfig& c, int dim) {
  const RopeScaling& r = c.rope_scaling;
  const double base = c.rope_theta;
  const double max_pos = r.original_max_position_embeddings;
  auto correction_dim = [&](double rotations) {
    return dim * std::log(max_pos / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
  };
  double low = std::max(std::floor(correction_dim(r.beta_fast)), 0.0);
  double high = std::min(std::ceil(correction_dim(r.beta_slow)), static_cast<double>(dim - 1));
  if (low == high) high += 0.001;
  std::vector<float> inv(dim / 2);
  for (int i = 0; i < dim / 2; ++i) {
    const float pos_freq = std::pow(static_cast<float>(base), static_cast<float>(2 * i) / static_cast<float>(dim));
    const float extrapolation = 1.f / pos_freq;
    const float interpolation = 1.f / (static_cast<float>(r.factor) * pos_freq);
    const float ramp = std::clamp(static_cast<float>((i - low) / (high - low)), 0.f, 1.f);
    const float keep = 1.f - ramp;  // share of the original (extrapolated) frequency
    inv[i] = interpolation * (1.f - keep) + extrapolation * keep;
  }
  return inv;
}

std::vector<float> llama3_inv_freq(const ModelConfig& c, int dim) {
  const RopeScaling& r = c.rope_scaling;
  std::vector<float> inv = default_inv_freq(c.rope_theta, dim);
  const float old_len = static_cast<float>(r.original_max_position_embeddings);
  const float low_wavelen = old_len / static_cast<float>(r.low_freq_factor);
  const float high_wavelen = old_len / static_cast<float>(r.high_freq_factor);
  const float factor = static_cast<float>(r.factor);
  for (float& f : inv) {
    const float wavelen = 2 * kPi / f;
    if (wavelen > low_wavelen) {
      f = f / factor;
    } else if (wavelen >= high_wavelen) {
      const float smooth = (old_len / wavelen - static_cast<float>(r.low_freq_factor)) /
                           static_cast<float>(r.high_freq_factor - r.low_freq_factor);
      f = (1 - smooth) * f / factor + smooth * f;
    }
  }
  return inv;
}

}  // namespace

double yarn_mscale(double factor, double mscale) {
  return factor <= 1 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0;
}

RotaryEmbedding::RotaryEmbedding(const ModelConfig& config, int rotary_dim)
    : dim_(rotary_dim), interleaved_(config.rope_interleaved) {
  const RopeScaling& r = config.rope_scaling;
  switch (r.type) {
    case RopeScaling::Type::None:
      inv_freq_ = default_inv_freq(config.rope_theta, dim_);
      break;
    case RopeScaling::Type::Linear:
      inv_freq_ = default_inv_freq(config.rope_theta, dim_);
      for (float& f : inv_freq_) f /= static_cast<float>(r.factor);
      break;
    case RopeScaling::Type::Yarn:
      inv_freq_ = yarn_inv_freq(config, dim_);
      // DeepSeek scales cos/sin by mscale(mscale) / mscale(mscale_all_dim) (1 when they are equal,
      // as in V3); transformers' generic YaRN uses mscale(factor) unless both are given.
      magnitude_ = config.family == ModelFamily::DeepSeek || r.mscale_all_dim != 0.0
                       ? static_cast<float>(yarn_mscale(r.factor, r.mscale) / yarn_mscale(r.factor, r.mscale_all_dim))
                       : static_cast<float>(yarn_mscale(r.factor, 1.0));
      break;
    case RopeScaling::Type::Llama3:
      inv_freq_ = llama3_inv_freq(config, dim_);
      break;
  }
}

void RotaryEmbedding::cos_sin(int64_t position, float* cos, float* sin) const {
  const float pos = static_cast<float>(position);
  for (int i = 0; i < dim_ / 2; ++i) {
    const float angle = inv_freq_[i] * pos;
    cos[i] = std::cos(angle) * magnitude_;
    sin[i] = std::sin(angle) * magnitude_;
  }
}

float mla_softmax_scale(const ModelConfig& config) {
  double scale = 1.0 / std::sqrt(static_cast<double>(config.qk_head_dim()));
  const RopeScaling& r = config.rope_scaling;
  if (r.type == RopeScaling::Type::Yarn && r.mscale_all_dim != 0.0) {
    const double m = yarn_mscale(r.factor, r.mscale_all_dim);
    scale *= m * m;
  }
  return static_cast<float>(scale);
}

}  // namespace tide
