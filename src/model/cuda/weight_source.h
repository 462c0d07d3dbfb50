#pragma once
// Where a GPU model's tensors come from: a checkpoint (each tensor claimed, converted to bf16 where
// it is stored otherwise, and uploaded), or the dummy generator of `--load-format dummy` (every
// tensor of the config's shapes generated on the GPU, none read). The families' loaders
// (deepseek_weights.cc, llama_weights.cc) ask for tensors by name and shape alike from either.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend/cuda/device_buffer.h"
#include "model/checkpoint/checkpoint.h"
#include "model/config.h"
#include "model/cuda/device_weights.h"
#include "model/model.h"

namespace tide::cuda {

// A routed expert of an fp8 checkpoint, as stored.
struct Fp8ExpertWeights {
  DeviceFp8Matrix gate_up;  // gate_proj rows, then up_proj rows
  DeviceFp8Matrix down;
};

class WeightSource {
 public:
  // One tensor of several stacked into one: its name and its rows.
  struct Part {
    std::string name;
    int64_t rows;
  };

  virtual ~WeightSource() = default;
  virtual DeviceMatrix matrix(const std::string& name, int64_t rows, int64_t cols) = 0;
  virtual DeviceBuffer<bf16> norm(const std::string& name, int64_t size) = 0;
  virtual DeviceBuffer<float> bias(const std::string& name, int64_t size) = 0;
  // The parts' vectors one after another, as one (Qwen2's q, k and v biases).
  virtual DeviceBuffer<float> stacked_bias(const std::vector<Part>& parts) = 0;
  virtual GatedMlpWeights mlp(const std::string& prefix, int64_t hidden, int64_t intermediate) = 0;
  // A routed expert kept in fp8, or nullopt where it is to be read with mlp().
  virtual std::optional<Fp8ExpertWeights> fp8_expert(const std::string& prefix, int64_t hidden,
                                                     int64_t intermediate) = 0;
  // The parts' rows one after another, each `cols` wide, as one matrix (one GEMM for several
  // projections of the same rows).
  virtual DeviceMatrix stacked(const std::vector<Part>& parts, int64_t cols) = 0;
  // Every matrix handed out so far, in device memory.
  std::size_t bytes() const { return bytes_; }

 protected:
  DeviceMatrix count(DeviceMatrix m) {
    bytes_ += m.data.bytes();
    return m;
  }
  Fp8ExpertWeights count(Fp8ExpertWeights w) {
    bytes_ += w.gate_up.bytes() + w.down.bytes();
    return w;
  }

 private:
  std::size_t bytes_ = 0;
};

// The embedding table, the LM head (unless tied) and the final norm, by their checkpoint names.
template <class Layer>
void load_decoder_ends(WeightSource& up, const ModelConfig& c, DecoderWeights<Layer>& w) {
  w.embed = up.matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size);
  if (!c.tie_word_embeddings) w.lm_head = up.matrix("lm_head.weight", c.vocab_size, c.hidden_size);
  w.final_norm = up.norm("model.norm.weight", c.hidden_size);
}

// keep_fp8_experts: routed experts stored in fp8 with 128×128 blocks stay fp8 (fp8_expert());
// otherwise fp8_expert() declines and they are read, widened, with mlp().
std::unique_ptr<WeightSource> checkpoint_source(const Checkpoint& checkpoint, const ModelConfig& config,
                                                bool keep_fp8_experts);
// Matrices uniform with variance 1/cols (activations keep their scale through the layers), norms
// 1, biases 0; fp8_experts: routed experts in e4m3 with one scale per 128×128 block, as an fp8
// checkpoint would hold them. Generated on the device without synchronising: synchronise before
// timing anything.
std::unique_ptr<WeightSource> dummy_source(uint64_t seed, bool fp8_experts);

}  // namespace tide::cuda
