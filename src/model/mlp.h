#pragma once
// The SwiGLU feed-forward block: down(silu(gate(x)) * up(x)). Dense layers, routed experts and
// shared experts are all this block at different widths.
#include <string>

#include "model/weights.h"

namespace tide {

struct GatedMlp {
  WeightMatrix gate, up, down;

  static GatedMlp load(WeightLoader& loader, const std::string& prefix, int64_t hidden, int64_t intermediate);
  // out[n, hidden] = mlp(x[n, hidden]).
  void forward(const float* x, int64_t n, float* out) const;
};

}  // namespace tide
