#include "model/deepseek/deepseek_model.h"
#include "model/llama/llama_model.h"
#include "model/model.h"

namespace tide {

std::unique_ptr<Model> load_model(const std::filesystem::path& dir, const ModelOptions& options) {
  ModelConfig config = load_model_config(dir);
  Checkpoint checkpoint = Checkpoint::open(dir);
  if (config.family == ModelFamily::DeepSeek)
    return std::make_unique<DeepSeekModel>(std::move(config), std::move(checkpoint), options);
  return std::make_unique<LlamaModel>(std::move(config), std::move(checkpoint));
}

}  // namespace tide
