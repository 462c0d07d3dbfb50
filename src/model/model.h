#pragma once
// The model interface the engine drives: one forward step over a ragged batch.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/batch.h"
#include "model/config.h"
#include "model/weights.h"
#include "tensor/kv_cache.h"
#include "tensor/paged_kv_cache.h"

namespace tide {

// How MLA attends. Auto: the expanded form for prefill chunks, the weight-absorbed form over
// the latent cache for single-token decode. The forced modes exist to check the two agree.
enum class MlaMode { Auto, Expanded, Absorbed };

// Where the forward pass runs. Cpu: the float32 reference path. Cuda: bf16 on the first GPU
// (a build with the CUDA backend). Auto: Cuda when the build has it, a GPU is present and the
// model's family runs there; Cpu otherwise.
enum class Device { Auto, Cpu, Cuda };

// Where the weights come from. Checkpoint: the directory's safetensors. Dummy: random weights of
// the shapes in its config.json alone, generated on the GPU (benchmarks at real sizes without
// the download; share/models holds the configs of the DeepSeek models).
enum class LoadFormat { Checkpoint, Dummy };

// On the GPU, the fp8 matrices of an fp8 checkpoint (DeepSeek-V3, R1: every projection and MLP):
// kept as stored and multiplied so (Native), or widened to bf16 at load (Bf16: to measure what
// fp8 costs in accuracy).
enum class Fp8Weights { Native, Bf16 };

struct ModelOptions {
  MlaMode mla_mode = MlaMode::Auto;
  Device device = Device::Cpu;
  LoadFormat load_format = LoadFormat::Checkpoint;
  uint64_t dummy_seed = 1;
  Quantization quantization = Quantization::None;
  Fp8Weights fp8_weights = Fp8Weights::Native;
};

// "auto", "cpu" or "cuda" (the CLI's --device); throws tide::Error for anything else.
Device parse_device(const std::string& name);
// "auto" (a checkpoint) or "dummy" (the CLI's --load-format).
LoadFormat parse_load_format(const std::string& name);
// "fp8" (Native) or "bf16" (the CLI's --fp8-weights).
Fp8Weights parse_fp8_weights(const std::string& name);

// One step's result (Model::step): per sequence its next token where the model picked it
// (SequenceStep::pick), else -1; and the logits rows [rows, vocab] of the others, in batch order.
struct StepOutput {
  std::vector<int32_t> next_tokens;
  std::vector<float> logits;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  // Writes the batch's new tokens into `cache` (one this model made) and returns logits
  // [batch.num_logit_rows(), vocab].
  virtual std::vector<float> forward(const Batch& batch, KvCache& cache) const = 0;
  // forward(), with the next tokens of the sequences marked `pick` chosen where the logits are
  // (greedy, or a Gumbel-max draw at their temperature): on a GPU only their ids travel to the
  // host, not vocab floats each. This base version picks on the host (pick_token).
  virtual StepOutput step(const Batch& batch, KvCache& cache) const;
  // The cache forward() reads and writes: num_blocks blocks of block_size tokens per layer, in
  // the model's memory (host or device).
  virtual std::unique_ptr<KvCache> make_kv_cache(int num_blocks, int block_size) const = 0;
  // Bytes one block of block_size tokens takes over all layers, for sizing the cache.
  virtual std::size_t kv_cache_block_bytes(int block_size) const = 0;
  // Bytes a KV cache may take on the model's device so that the device's memory in use stays
  // within utilization × its total (the weights already loaded, room kept for a step's
  // activations); 0 for a model in host memory, whose cache is sized by the caller.
  virtual std::size_t device_memory_for_cache(double utilization) const { return 0; }
  // Where the forward pass runs, for logs: "cpu", or the GPU's name.
  virtual std::string device_description() const = 0;
  // Bytes of weights one decode step reads (all weights of a dense model; for MoE the experts
  // a token actually routes to are a fraction of this).
  virtual std::size_t weight_bytes() const = 0;
};

// Loads config.json and the safetensors weights of `dir`. Throws tide::Error naming the file and
// tensor at fault.
std::unique_ptr<Model> load_model(const std::filesystem::path& dir, const ModelOptions& options = {});

}  // namespace tide
