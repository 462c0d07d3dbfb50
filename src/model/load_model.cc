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

LoadFormat parse_load_format(const std::string& name) {
  if (name == "auto") return LoadFormat::Checkpoint;
  if (name == "dummy") return LoadFormat::Dummy;
  fail("--load-format must be auto or dummy (got '{}')", name);
}

Fp8Weights parse_fp8_weights(const std::string& name) {
  if (name == "fp8") return Fp8Weights::Native;
  if (name == "bf16") return Fp8Weights::Bf16;
  fail("--fp8-weights must be fp8 or bf16 (got '{}')", name);
}

namespace {

Device resolve(Device requested) {
  if (requested != Device::Auto) return requested;
#ifdef TIDE_WITH_CUDA
  if (cuda::device_available()) return Device::Cuda;
#endif
  return Device::Cpu;
}

#ifndef TIDE_WITH_CUDA
[[noreturn]] void no_cuda_backend() {
  fail("--device cuda: this build has no CUDA backend (build with nvcc installed: cmake --preset cuda)");
}
#endif

}  // namespace

std::unique_ptr<Model> load_model(const std::filesystem::path& dir, const ModelOptions& options) {
  ModelConfig config = load_model_config(dir);
  const Device device = resolve(options.device);
  if (options.load_format == LoadFormat::Dummy) {
    if (device != Device::Cuda)
      fail("--load-format dummy generates the weights on the GPU: it needs --device cuda (or auto with a GPU)");
#ifdef TIDE_WITH_CUDA
    return cuda::dummy_model(std::move(config), options);
#else
    no_cuda_backend();
#endif
  }
  Checkpoint checkpoint = Checkpoint::open(dir);
  if (device == Device::Cuda) {
    if (options.quantization != Quantization::None)
      fail("--quantization int8 runs on --device cpu in this version; the GPU serves bf16 and fp8 weights");
#ifdef TIDE_WITH_CUDA
    return cuda::load_model(std::move(config), checkpoint, options);
#else
    no_cuda_backend();
#endif
  }
  if (config.family == ModelFamily::DeepSeek)
    return std::make_unique<DeepSeekModel>(std::move(config), std::move(checkpoint), options);
  return std::make_unique<LlamaModel>(std::move(config), std::move(checkpoint), options);
}

}  // namespace tide
