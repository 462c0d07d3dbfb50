#include "model/cuda/cuda_model.h"

#include <cuda_runtime.h>

#include "common/error.h"
#include "model/cuda/cuda_deepseek_model.h"

namespace tide::cuda {

bool device_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

bool supports(const ModelConfig& config) { return config.family == ModelFamily::DeepSeek; }

namespace {

void require_gpu_family(const ModelConfig& config, const std::string& origin, bool dummy) {
  if (!supports(config))
    fail("{}: --device cuda serves the deepseek family (deepseek_v2, deepseek_v3) in this version; {} runs on "
         "--device cpu{}",
         origin, config.model_type, dummy ? " from a checkpoint (dummy weights are generated on the GPU)" : "");
  if (!device_available()) fail("--device cuda: no CUDA GPU is visible to this process (check nvidia-smi)");
}

}  // namespace

std::unique_ptr<Model> load_model(ModelConfig config, const Checkpoint& checkpoint, const ModelOptions& options) {
  require_gpu_family(config, checkpoint.dir().string(), false);
  DeepSeekWeights weights = load_deepseek_weights(checkpoint, config, options.fp8_experts);
  return std::make_unique<DeepSeekCudaModel>(std::move(config), std::move(weights));
}

std::unique_ptr<Model> dummy_model(ModelConfig config, const ModelOptions& options) {
  require_gpu_family(config, "--load-format dummy", true);
  DeepSeekWeights weights = dummy_deepseek_weights(config, options.dummy_seed, options.fp8_experts);
  return std::make_unique<DeepSeekCudaModel>(std::move(config), std::move(weights));
}

}  // namespace tide::cuda
