#pragma once
// Resolving --model: a Hugging Face model directory, or "demo" — the built-in
// DeepSeek-V3-architecture model with random weights and the real DeepSeek-V3 tokenizer,
// created under $TIDE_HOME (default ~/.cache/tide) on first use.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "model/model.h"

namespace tide::cli {

// The directory to load; creates the demo model when asked for and absent. Throws tide::Error
// with what to do when the directory or the demo tokenizer is missing.
std::filesystem::path resolve_model(const std::string& model);

bool is_demo(const std::string& model);

// --device for a command that loads a model: auto (the GPU when this build has the CUDA backend
// and a GPU is visible), cpu, or cuda.
void add_device_option(CLI::App& cmd, std::string& device);

// --quantization for a command that loads a model: none, or int8 (weight-only, per channel).
void add_quantization_option(CLI::App& cmd, std::string& quantization);

// --load-format for a command that loads a model: auto (the checkpoint's weights) or dummy
// (random weights of config.json's shapes, generated on the GPU).
void add_load_format_option(CLI::App& cmd, std::string& load_format);

// --fp8-weights for a command that loads a model on the GPU: fp8 (the fp8 matrices of an fp8
// checkpoint kept and multiplied as stored) or bf16 (widened at load: twice their memory, closer
// to a bf16 run's logits).
void add_fp8_weights_option(CLI::App& cmd, std::string& fp8_weights);

// Loads `dir` on the device asked for and logs where it runs and how long loading took.
std::unique_ptr<Model> load_model_on(const std::filesystem::path& dir, const std::string& device,
                                     const std::string& quantization = "none", const std::string& load_format = "auto",
                                     const std::string& fp8_weights = "fp8");

// The directory whose tokenizer.json (and tokenizer_config.json) a model is served with: `tokenizer`
// when given ("demo" is DeepSeek-V3's, fetched into $TIDE_HOME on first use), else the model's own.
// Throws tide::Error saying what to pass when the directory has no tokenizer.json.
std::filesystem::path resolve_tokenizer(const std::filesystem::path& model_dir, const std::string& tokenizer);

// $TIDE_HOME, or ~/.cache/tide, or (neither set) the temp directory's tide/.
std::filesystem::path tide_home();

// Parses "1,2,3" into token ids; throws tide::Error naming the bad entry.
std::vector<int32_t> parse_ids(const std::string& text);

}  // namespace tide::cli
