#include "model/mlp.h"

#include <vector>

#include "backend/cpu/ops.h"

namespace tide {

GatedMlp GatedMlp::load(WeightLoader& loader, const std::string& prefix, int64_t hidden, int64_t intermediate) {
  return {loader.matrix(prefix + ".gate_proj.weight", intermediate, hidden),
          loader.matrix(prefix + ".up_proj.weight", intermediate, hidden),
          loader.matrix(prefix + ".down_proj.weight", hidden, intermediate)};
}

void GatedMlp::forward(const float* x, int64_t n, float* out) const {
  const int64_t inter = gate.rows;
  std::vector<float> g(n * inter), u(n * inter);
  cpu::matmul(x, n, gate, g.data());
  cpu::matmul(x, n, up, u.data());
  cpu::silu_mul(g.data(), u.data(), n * inter, g.data());
  cpu::matmul(g.data(), n, down, out);
}

}  // namespace tide
