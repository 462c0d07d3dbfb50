#include "common/error.h"
#include "model/deepseek/deepseek_model.h"
#include "model/llama/llama_model.h"
#include "model/model.h"
#ifdef TIDE_WITH_CUDA
#include "model/cuda/cuda_model.h"
#endif

namespace tide {

Device parse_device(const std::string& name) {
  if (name == "auto") return Device::Auto;
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  fail("--device must be auto, cpu or cuda (got '{}')", name);
}

namespace {

Device resolve(Device requested, const ModelConfig& config) {
  if (requested != Device::Auto) return requested;
#ifdef TIDE_WITH_CUDA
  if (cuda::supports(config) && cuda::device_available()) return Device::Cuda;
#endif
  return Device::Cpu;
}

}  // namespace

std::unique_ptr<Model> load_model(const std::filesystem::path& dir, const ModelOptions& options) {
  ModelConfig config = load_model_config(dir);
  Checkpoint checkpoint = Checkpoint::open(dir);
  if (resolve(options.device, config) == Device::Cuda) {
#ifdef TIDE_WITH_CUDA
    return cuda::load_model(std::move(config), checkpoint, options);
#else
    fail("--device cuda: this build has no CUDA backend (build with nvcc installed: cmake --preset cuda)");
#endif
  }
  if (config.family == ModelFamily::DeepSeek)
    return std::make_unique<DeepSeekModel>(std::move(config), std::move(checkpoint), options);
  return std::make_unique<LlamaModel>(std::move(config), std::move(checkpoint));
}

}  // namespace tide
