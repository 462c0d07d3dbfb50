// load_model against checkpoints that disagree with their config: every mismatch must stop the
// load with a message naming the tensor, and tensors the engine does not use (V3's multi-token
// prediction layer) must not.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "checkpoint_support.h"
#include "common/json_file.h"
#include "fixture_support.h"
#include "model/checkpoint/checkpoint.h"
#include "model/config.h"
#include "model/model.h"
#include "model/random_model.h"
#include "model/weights.h"
#include "tensor/dtype.h"

namespace tide {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::copy_model_with_edit;
using testing::error_of;
using testing::model_fixture;
using testing::OwnedTensor;
using testing::TempDir;
using testing::tensor_named;

using Tensors = std::vector<OwnedTensor>;

std::string load_error(const std::filesystem::path& dir) {
  return error_of([&] { load_model(dir); });
}

// Logits of the last position after prefilling `prompt`.
std::vector<float> last_logits(const Model& model, const std::vector<int32_t>& prompt) {
  const int block_size = 16, blocks = static_cast<int>(prompt.size()) / block_size + 1;
  PagedKvCache cache(model.config().num_layers, blocks, block_size, model.config().kv_entry_dim());
  std::vector<int32_t> table(blocks);
  for (int b = 0; b < blocks; ++b) table[b] = b;
  Batch batch{prompt, {{.num_tokens = static_cast<int64_t>(prompt.size()), .start_position = 0, .block_table = table}}};
  return model.forward(batch, cache);
}

const std::vector<int32_t> kPrompt = {3, 141, 59, 265, 35, 89, 79};

TEST(ModelLoadingTest, MissingTensorIsNamed) {
  TempDir dir;
  const std::string name = "model.layers.1.self_attn.k_proj.weight";
  copy_model_with_edit(model_fixture("qwen2-tiny"), dir.path(), [&](Tensors& t) {
    std::erase_if(t, [&](const OwnedTensor& x) { return x.name == name; });
  });
  EXPECT_THAT(load_error(dir.path()), AllOf(HasSubstr(dir.path().string()), HasSubstr("missing tensor '" + name + "'")));
}

TEST(ModelLoadingTest, TransposedWeightIsNamedWithBothShapes) {
  TempDir dir;
  const std::string name = "model.layers.0.mlp.up_proj.weight";
  copy_model_with_edit(model_fixture("qwen2-tiny"), dir.path(),
                       [&](Tensors& t) { tensor_named(t, name).shape = {64, 128}; });
  EXPECT_THAT(load_error(dir.path()),
              AllOf(HasSubstr((dir / "model.safetensors").string()),
                    HasSubstr("tensor '" + name + "' has shape [64,128] but the config implies [128,64]")));
}

TEST(ModelLoadingTest, MissingDeepSeekExpertIsNamed) {
  TempDir dir;
  const std::string name = "model.layers.2.mlp.experts.15.down_proj.weight";
  copy_model_with_edit(model_fixture("deepseek-v3-tiny"), dir.path(), [&](Tensors& t) {
    std::erase_if(t, [&](const OwnedTensor& x) { return x.name == name; });
  });
  EXPECT_THAT(load_error(dir.path()), HasSubstr("missing tensor '" + name + "'"));
}

TEST(ModelLoadingTest, IntegerWeightIsRefusedWithItsDtype) {
  TempDir dir;
  const std::string name = "model.layers.0.self_attn.o_proj.weight";
  copy_model_with_edit(model_fixture("qwen2-tiny"), dir.path(), [&](Tensors& t) {
    OwnedTensor& w = tensor_named(t, name);
    w.dtype = DType::I64;
    w.data.assign(64 * 64 * 8, std::byte{0});
  });
  EXPECT_THAT(load_error(dir.path()),
              AllOf(HasSubstr((dir / "model.safetensors").string()), HasSubstr("tensor '" + name + "'"),
                    HasSubstr("dtype I64, which Tide does not read")));
}

TEST(ModelLoadingTest, IntegerNormIsRefusedWithItsDtype) {
  TempDir dir;
  copy_model_with_edit(model_fixture("qwen2-tiny"), dir.path(), [&](Tensors& t) {
    OwnedTensor& w = tensor_named(t, "model.norm.weight");
    w.dtype = DType::I32;
    w.data.assign(64 * 4, std::byte{0});
  });
  EXPECT_THAT(load_error(dir.path()), AllOf(HasSubstr("tensor 'model.norm.weight'"), HasSubstr("dtype I32")));
}

TEST(ModelLoadingTest, Fp8WeightWithoutQuantizationConfigIsRefused) {
  TempDir dir;
  copy_model_with_edit(model_fixture("deepseek-v3-fp8-tiny"), dir.path(), [](Tensors&) {});
  auto config = read_json_file(dir / "config.json");
  config.erase("quantization_config");
  testing::write_file(dir / "config.json", config.dump());
  EXPECT_THAT(load_error(dir.path()),
              AllOf(HasSubstr((dir / "model.safetensors").string()), HasSubstr("is float8"),
                    HasSubstr("no fp8 quantization_config")));
}

TEST(ModelLoadingTest, Fp8WeightWithoutItsScaleIsNamed) {
  TempDir dir;
  const std::string scale = "model.layers.1.self_attn.o_proj.weight_scale_inv";
  copy_model_with_edit(model_fixture("deepseek-v3-fp8-tiny"), dir.path(), [&](Tensors& t) {
    std::erase_if(t, [&](const OwnedTensor& x) { return x.name == scale; });
  });
  EXPECT_THAT(load_error(dir.path()), HasSubstr("missing tensor '" + scale + "'"));
}

// What the GPU keeps in fp8: the bytes as stored and the 128×128 block scales, W = w · scale
// exactly as the CPU path widens them; a matrix stored in bf16 is not handed over.
TEST(ModelLoadingTest, Fp8BlocksAreTheStoredBytesAndScales) {
  const auto dir = model_fixture("deepseek-v3-fp8-tiny");
  const Checkpoint checkpoint = Checkpoint::open(dir);
  const ModelConfig config = load_model_config(dir);
  WeightLoader loader(checkpoint, config);
  const std::string name = "model.layers.1.mlp.experts.3.down_proj.weight";
  const int64_t rows = config.hidden_size, cols = config.moe_intermediate_size;
  const auto blocks = loader.fp8_blocks(name, rows, cols);
  ASSERT_TRUE(blocks.has_value());
  ASSERT_EQ(blocks->data.size(), static_cast<std::size_t>(rows * cols));
  ASSERT_EQ(blocks->scales.size(), static_cast<std::size_t>((rows + 127) / 128 * ((cols + 127) / 128)));
  const WeightMatrix widened = loader.matrix(name, rows, cols);
  ASSERT_EQ(widened.dtype, DType::F32);
  const float* w = static_cast<const float*>(widened.data);
  const int64_t scale_cols = (cols + 127) / 128;
  for (int64_t r = 0; r < rows; r += 37)
    for (int64_t c = 0; c < cols; c += 11)
      EXPECT_EQ(w[r * cols + c],
                fp8_e4m3_to_f32(blocks->data[r * cols + c]) * blocks->scales[(r / 128) * scale_cols + c / 128])
          << name << " [" << r << ", " << c << "]";

  const auto bf16_dir = model_fixture("deepseek-v3-tiny");
  const Checkpoint bf16_checkpoint = Checkpoint::open(bf16_dir);
  const ModelConfig bf16_config = load_model_config(bf16_dir);
  WeightLoader bf16_loader(bf16_checkpoint, bf16_config);
  EXPECT_FALSE(bf16_loader
                   .fp8_blocks("model.layers.1.mlp.experts.0.down_proj.weight", bf16_config.hidden_size,
                               bf16_config.moe_intermediate_size)
                   .has_value());
}

// The host's e4m3 encoder (fp8 checkpoints written for tests and demos): every finite code comes
// back as itself, a value halfway between two codes goes to the even one, and magnitudes past 448
// saturate.
TEST(ModelLoadingTest, Fp8EncodingRoundsToTheNearestCodeAndSaturates) {
  for (int code = 0; code < 256; ++code) {
    if ((code & 0x7f) == 0x7f) continue;  // NaN
    EXPECT_EQ(f32_to_fp8_e4m3(fp8_e4m3_to_f32(static_cast<uint8_t>(code))), code) << "code " << code;
  }
  EXPECT_EQ(f32_to_fp8_e4m3(1.0625f), 0x38);   // between 1 (0x38) and 1.125 (0x39): to the even 0x38
  EXPECT_EQ(f32_to_fp8_e4m3(1.1875f), 0x3a);   // between 1.125 and 1.25 (0x3a)
  EXPECT_EQ(f32_to_fp8_e4m3(1.07f), 0x39);
  EXPECT_EQ(f32_to_fp8_e4m3(-3.1f), 0xc4);     // -3 (0xc4) is nearer than -3.25
  EXPECT_EQ(f32_to_fp8_e4m3(0x1p-10f), 0x00);  // half the smallest subnormal (2^-9): to even, zero
  EXPECT_EQ(f32_to_fp8_e4m3(1000.f), 0x7e);    // 448
  EXPECT_EQ(f32_to_fp8_e4m3(-1e30f), 0xfe);
}

// An fp8 random checkpoint stores its projections and MLPs as V3's do (e4m3 and a scale per
// 128×128 block) and the rest in bf16; each stored value is within one e4m3 step (2^-4 relative,
// or the block's smallest subnormal) of the bf16 checkpoint's of the same seed.
TEST(ModelLoadingTest, RandomFp8CheckpointStoresItsProjectionsInBlocksOfTheBf16Weights) {
  TempDir fp8_dir, bf16_dir;
  RandomDeepSeekShape shape;
  shape.vocab_size = 300;
  shape.num_layers = 2;
  shape.fp8 = true;
  write_random_deepseek(fp8_dir.path(), shape, 5);
  shape.fp8 = false;
  write_random_deepseek(bf16_dir.path(), shape, 5);
  const Checkpoint fp8 = Checkpoint::open(fp8_dir.path()), bf16 = Checkpoint::open(bf16_dir.path());
  const ModelConfig config = load_model_config(fp8_dir.path());
  ASSERT_TRUE(config.fp8.has_value());
  WeightLoader fp8_loader(fp8, config), bf16_loader(bf16, load_model_config(bf16_dir.path()));
  const int64_t H = shape.num_heads;
  const int64_t rows = H * (shape.qk_nope_head_dim + shape.v_head_dim), cols = shape.kv_lora_rank;
  const std::string kv_b = "model.layers.1.self_attn.kv_b_proj.weight";
  const auto blocks = fp8_loader.fp8_blocks(kv_b, rows, cols);
  ASSERT_TRUE(blocks.has_value());
  const WeightMatrix stored = fp8_loader.matrix(kv_b, rows, cols), exact = bf16_loader.matrix(kv_b, rows, cols);
  ASSERT_EQ(stored.dtype, DType::F32);
  ASSERT_EQ(exact.dtype, DType::BF16);
  const float* w = static_cast<const float*>(stored.data);
  const int64_t scale_cols = (cols + 127) / 128;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      // Half an e4m3 step of the value (or of the block's subnormals), and the bf16 copy's own rounding.
      const float want = bf16_to_f32(static_cast<const uint16_t*>(exact.data)[r * cols + c]);
      const float scale = blocks->scales[(r / 128) * scale_cols + c / 128];
      EXPECT_LE(std::fabs(w[r * cols + c] - want), std::max(std::fabs(want) * (1.f / 16 + 1.f / 128), scale * 0x1p-9f))
          << kv_b << " [" << r << ", " << c << "]";
    }
  for (const char* name : {"model.embed_tokens.weight", "lm_head.weight"})
    EXPECT_FALSE(fp8_loader.fp8_blocks(name, shape.vocab_size, shape.hidden_size).has_value()) << name;
  EXPECT_FALSE(fp8_loader.fp8_blocks("model.layers.1.mlp.gate.weight", shape.n_routed_experts, shape.hidden_size)
                   .has_value());
  EXPECT_LT(random_deepseek_weight_bytes({.fp8 = true}), random_deepseek_weight_bytes({}));
}

TEST(ModelLoadingTest, MultiTokenPredictionLayerIsIgnored) {
  // DeepSeek-V3 ships its MTP module as layer num_hidden_layers (61); the engine does not use it.
  TempDir dir;
  copy_model_with_edit(model_fixture("deepseek-v3-tiny"), dir.path(), [](Tensors& t) {
    for (const char* name : {"model.layers.3.eh_proj.weight", "model.layers.3.self_attn.kv_b_proj.weight"})
      t.push_back(testing::f32_tensor(name, {2, 64}, std::vector<float>(128, 1.f)));
    t.push_back(testing::f32_tensor("model.layers.3.enorm.weight", {64}, std::vector<float>(64, 1.f)));
  });
  auto with_mtp = load_model(dir.path());
  auto original = load_model(model_fixture("deepseek-v3-tiny"));
  EXPECT_EQ(with_mtp->config().num_layers, 3);
  EXPECT_EQ(last_logits(*with_mtp, kPrompt), last_logits(*original, kPrompt));
}

TEST(ModelLoadingTest, WeightsWidenedToF32GiveIdenticalLogits) {
  // bf16 → f32 is exact, so a checkpoint saved in float32 must compute the same model.
  TempDir dir;
  copy_model_with_edit(model_fixture("qwen2-tiny"), dir.path(), [](Tensors& t) {
    for (OwnedTensor& w : t) {
      ASSERT_EQ(w.dtype, DType::BF16);
      std::vector<float> wide(w.data.size() / 2);
      for (std::size_t i = 0; i < wide.size(); ++i) {
        uint16_t bits;
        std::memcpy(&bits, w.data.data() + 2 * i, 2);
        wide[i] = bf16_to_f32(bits);
      }
      w = testing::f32_tensor(w.name, w.shape, wide);
    }
  });
  auto wide = load_model(dir.path());
  auto original = load_model(model_fixture("qwen2-tiny"));
  auto a = last_logits(*wide, kPrompt), b = last_logits(*original, kPrompt);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_LT(testing::relative_error(a.data(), b.data(), a.size()), 1e-6);
}

// Devices, weight formats and the fp8 matrices' form: bad names and impossible combinations are clear errors.
TEST(ModelLoadingTest, DeviceAndLoadFormatNamesAreChecked) {
  EXPECT_EQ(parse_device("auto"), Device::Auto);
  EXPECT_EQ(parse_device("cpu"), Device::Cpu);
  EXPECT_EQ(parse_device("cuda"), Device::Cuda);
  EXPECT_THAT(error_of([] { parse_device("gpu"); }), HasSubstr("--device must be auto, cpu or cuda"));
  EXPECT_EQ(parse_load_format("auto"), LoadFormat::Checkpoint);
  EXPECT_EQ(parse_load_format("dummy"), LoadFormat::Dummy);
  EXPECT_THAT(error_of([] { parse_load_format("pt"); }), HasSubstr("--load-format must be auto or dummy"));
  EXPECT_EQ(parse_fp8_weights("fp8"), Fp8Weights::Native);
  EXPECT_EQ(parse_fp8_weights("bf16"), Fp8Weights::Bf16);
  EXPECT_THAT(error_of([] { parse_fp8_weights("int4"); }), HasSubstr("--fp8-weights must be fp8 or bf16"));
}

TEST(ModelLoadingTest, DummyWeightsNeedTheGpu) {
  EXPECT_THAT(error_of([] {
                load_model(model_fixture("deepseek-v3-tiny"), {.device = Device::Cpu, .load_format = LoadFormat::Dummy});
              }),
              HasSubstr("--load-format dummy generates the weights on the GPU"));
}

// Every family runs on the GPU, with dummy weights too; without a GPU, or in a build without the
// CUDA backend, the error says which is missing.
TEST(ModelLoadingTest, DummyWeightsOfEveryFamilyLoadOnTheGpuOrSayWhatIsMissing) {
  for (const std::string fixture : {"qwen2-tiny", "llama3-tiny", "deepseek-v3-tiny"}) {
    std::unique_ptr<Model> model;
    const std::string error = error_of([&] {
      model = load_model(model_fixture(fixture), {.device = Device::Cuda, .load_format = LoadFormat::Dummy});
    });
    if (model) {
      EXPECT_EQ(model->config().num_layers, load_model_config(model_fixture(fixture)).num_layers) << fixture;
      continue;
    }
    EXPECT_THAT(error, ::testing::AnyOf(HasSubstr("no CUDA GPU is visible"), HasSubstr("this build has no CUDA backend")))
        << fixture;
  }
}

TEST(ModelLoadingTest, TheCpuModelRefusesACacheItDidNotMake) {
  auto model = load_model(model_fixture("qwen2-tiny"));
  // A cache of the right geometry from another model type.
  struct OtherCache : KvCache {
    using KvCache::KvCache;
    std::size_t bytes() const override { return 0; }
  } other(model->config().num_layers, 4, 16);
  std::vector<int32_t> table = {0};
  Batch batch{{3}, {{.num_tokens = 1, .start_position = 0, .block_table = table}}};
  EXPECT_THAT(error_of([&] { model->forward(batch, other); }), HasSubstr("a KV cache it did not make"));
  EXPECT_EQ(model->device_memory_for_cache(0.9), 0u);  // host memory: the caller sizes the cache
  auto own = model->make_kv_cache(4, 16);
  EXPECT_EQ(own->num_blocks(), 4);
  EXPECT_EQ(own->bytes(), 4 * model->kv_cache_block_bytes(16));
  EXPECT_EQ(model->forward(batch, *own).size(), static_cast<std::size_t>(model->config().vocab_size));
}

}  // namespace
}  // namespace tide
