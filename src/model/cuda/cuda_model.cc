#include "model/cuda/cuda_model.h"

#include <cuda_runtime.h>

#include "common/error.h"
#include "model/cuda/cuda_deepseek_model.h"
#include "model/cuda/cuda_llama_model.h"

namespace tide::cuda {

bool device_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

namespace {

void require_gpu() {
  if (!device_available()) fail("--device cuda: no CUDA GPU is visible to this process (check nvidia-smi)");
}

}  // namespace

std::unique_ptr<Model> load_model(ModelConfig config, const Checkpoint& checkpoint, const ModelOptions& options) {
  require_gpu();
  if (config.family == ModelFamily::Llama) {
    LlamaWeights weights = load_llama_weights(checkpoint, config);
    return std::make_unique<LlamaCudaModel>(std::move(config), std::move(weights));
  }
  DeepSeekWeights weights = load_deepseek_weights(checkpoint, config, options.fp8_weights);
  return std::make_unique<DeepSeekCudaModel>(std::move(config), std::move(weights));
}

std::unique_ptr<Model> dummy_model(ModelConfig config, const ModelOptions& options) {
  require_gpu();
  if (config.family == ModelFamily::Llama) {
    LlamaWeights weights = dummy_llama_weights(config, options.dummy_seed);
    return std::make_unique<LlamaCudaModel>(std::move(config), std::move(weights));
  }
  DeepSeekWeights weights = dummy_deepseek_weights(config, options.dummy_seed, options.fp8_weights);
  return std::make_unique<DeepSeekCudaModel>(std::move(config), std::move(weights));
}

}  // namespace tide::cuda
