#pragma once
// Where a GPU model's tensors come from: a checkpoint (each tensor claimed, converted to bf16 where
// it is stored otherwise and not kept in fp8, and uploaded), or the dummy generator of `--load-format dummy` (every
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
  // A matrix in bf16 (the embedding, the LM head, the router; kv_b_proj at head widths the fp8
  // absorption cannot take).
  virtual DeviceMatrix matrix(const std::string& name, int64_t rows, int64_t cols) = 0;
  virtual DeviceBuffer<bf16> norm(const std::string& name, int64_t size) = 0;
  virtual DeviceBuffer<float> bias(const std::string& name, int64_t size) = 0;
  // The parts' vectors one after another, as one (Qwen2's q, k and v biases).
  virtual DeviceBuffer<float> stacked_bias(const std::vector<Part>& parts) = 0;
  // A routed expert kept in fp8, or nullopt where it is to be read with mlp().
  virtual std::optional<Fp8ExpertWeights> fp8_expert(const std::string& prefix, int64_t hidden,
                                                     int64_t intermediate) = 0;
  // Whether a projection's consumers read its output rows at the width it has (DeviceLinear::rows()),
  // so that an fp8 matrix may be padded to whole 128-row blocks; otherwise it stays fp8 only
  // where its rows are whole blocks already.
  enum class RowPadding { None, WholeBlocks };
  // The parts' rows one after another, each `cols` wide, as one projection (one product for
  // several projections of the same rows). In fp8 as stored where the source keeps fp8 and every
  // part is fp8 in 128×128 blocks of a shape the fp8 products take (whole blocks along the depth,
  // of rows in every part but the last, and in the last too unless `padding` allows padding it);
  // else in bf16.
  virtual DeviceLinear stacked(const std::vector<Part>& parts, int64_t cols, RowPadding padding) = 0;
  DeviceLinear stacked(const std::vector<Part>& parts, int64_t cols) { return stacked(parts, cols, RowPadding::None); }
  DeviceLinear linear(const std::string& name, int64_t rows, int64_t cols, RowPadding padding = RowPadding::None) {
    return stacked({{name, rows}}, cols, padding);
  }
  // gate_proj and up_proj stacked, and down_proj, under `prefix`.
  GatedMlpWeights mlp(const std::string& prefix, int64_t hidden, int64_t intermediate) {
    return {stacked(gate_up_parts(prefix, intermediate), hidden), stacked({down_part(prefix, hidden)}, intermediate)};
  }
  // A SwiGLU MLP's matrices under `prefix`: gate_proj then up_proj (`hidden` wide), and down_proj
  // (`intermediate` wide).
  static std::vector<Part> gate_up_parts(const std::string& prefix, int64_t intermediate) {
    return {{prefix + ".gate_proj.weight", intermediate}, {prefix + ".up_proj.weight", intermediate}};
  }
  static Part down_part(const std::string& prefix, int64_t hidden) { return {prefix + ".down_proj.weight", hidden}; }
  // Every matrix handed out so far, in device memory.
  std::size_t bytes() const { return bytes_; }

 protected:
  DeviceMatrix count(DeviceMatrix m) {
    bytes_ += m.data.bytes();
    return m;
  }
  DeviceLinear count(DeviceLinear l) {
    bytes_ += l.bytes();
    return l;
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

// keep_fp8: matrices stored in fp8 with 128×128 blocks stay fp8 (fp8_expert(), and stacked() where
// their shapes allow); otherwise fp8_expert() declines and every matrix is read widened to bf16.
std::unique_ptr<WeightSource> checkpoint_source(const Checkpoint& checkpoint, const ModelConfig& config, bool keep_fp8);
// Matrices uniform with variance 1/cols (activations keep their scale through the layers), norms
// 1, biases 0; fp8: routed experts and the projections stacked() takes in fp8, e4m3 with one
// scale per 128×128 block, as an fp8 checkpoint would hold them. Generated on the device without
// synchronising: synchronise before timing anything.
std::unique_ptr<WeightSource> dummy_source(uint64_t seed, bool fp8);

}  // namespace tide::cuda
