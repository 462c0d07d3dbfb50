#pragma once
// The CUDA backend's models, every family (DeepSeek: DeepSeekCudaModel; Llama and Qwen2, the
// R1-Distill models: LlamaCudaModel): bf16 weights (fp8 checkpoints' fp8 matrices kept in fp8)
// and a bf16 paged cache on the first GPU, the forward pass on the op set of backend/cuda. Built
// only where the CUDA backend is (TIDE_CUDA).
#include <memory>

#include "model/checkpoint/checkpoint.h"
#include "model/config.h"
#include "model/model.h"

namespace tide::cuda {

// True when the CUDA runtime sees at least one GPU.
bool device_available();

// Uploads the checkpoint's weights (bf16; f32 weights, and fp8 ones the fp8 products cannot take,
// converted to bf16 at load; options.fp8_weights says whether the others stay fp8) and returns
// the model. Throws tide::Error for a missing GPU or a GPU error.
std::unique_ptr<Model> load_model(ModelConfig config, const Checkpoint& checkpoint, const ModelOptions& options);

// `--load-format dummy`: the config's shapes with weights generated on the GPU (no checkpoint).
std::unique_ptr<Model> dummy_model(ModelConfig config, const ModelOptions& options);

}  // namespace tide::cuda
