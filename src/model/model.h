#pragma once
// The model interface the engine drives: one forward step over a ragged batch.
#include <filesystem>
#include <memory>
#include <vector>

#include "model/batch.h"
#include "model/config.h"
#include "tensor/paged_kv_cache.h"

namespace tide {

// How MLA attends. Auto: the expanded form for prefill chunks, the weight-absorbed form over
// the latent cache for single-token decode. The forced modes exist to check the two agree.
enum class MlaMode { Auto, Expanded, Absorbed };

struct ModelOptions {
  MlaMode mla_mode = MlaMode::Auto;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  // Writes the batch's new tokens into `cache` and returns logits [batch.num_logit_rows(), vocab].
  virtual std::vector<float> forward(const Batch& batch, PagedKvCache& cache) const = 0;
  // Bytes of weights one decode step reads (all weights of a dense model; for MoE the experts
  // a token actually routes to are a fraction of this).
  virtual std::size_t weight_bytes() const = 0;
};

// Loads config.json and the safetensors weights of `dir`. Throws tide::Error naming the file and
// tensor at fault.
std::unique_ptr<Model> load_model(const std::filesystem::path& dir, const ModelOptions& options = {});

}  // namespace tide
