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

std::unique_ptr<Model> load_model(ModelConfig config, const Checkpoint& checkpoint, const ModelOptions& options) {
  if (!supports(config))
    fail("{}: --device cuda serves the deepseek family (deepseek_v2, deepseek_v3); {} runs on --device cpu",
         checkpoint.dir().string(), config.model_type);
  if (!device_available()) fail("--device cuda: no CUDA GPU is visible to this process (check nvidia-smi)");
  return std::make_unique<DeepSeekCudaModel>(std::move(config), checkpoint);
}

}  // namespace tide::cuda
