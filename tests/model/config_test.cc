// config.json decides every shape the loader asks for, so a wrong or unsupported field must stop
// the load with a message naming the file and the field, and the fixtures' configs must parse
// into exactly the values the reference implementation uses.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "checkpoint_support.h"
#include "common/json_file.h"
#include "fixture_support.h"
#include "model/config.h"

namespace tide {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::error_of;
using testing::model_fixture;

nlohmann::json fixture_config(const std::string& name) {
  return read_json_file(model_fixture(name) / "config.json");
}

std::string parse_error(const nlohmann::json& json) {
  return error_of([&] { parse_model_config(json, "dir/config.json"); });
}

TEST(ConfigTest, DeepSeekV3FixtureParsesEveryField) {
  ModelConfig c = parse_model_config(fixture_config("deepseek-v3-tiny"), "config.json");
  EXPECT_EQ(c.family, ModelFamily::DeepSeek);
  EXPECT_EQ(c.model_type, "deepseek_v3");
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.q_lora_rank, 48);
  EXPECT_EQ(c.kv_lora_rank, 32);
  EXPECT_EQ(c.qk_head_dim(), 24);
  EXPECT_EQ(c.kv_entry_dim(), 40);
  EXPECT_EQ(c.n_routed_experts, 16);
  EXPECT_EQ(c.num_experts_per_tok, 4);
  EXPECT_EQ(c.n_group, 4);
  EXPECT_EQ(c.topk_group, 2);
  EXPECT_EQ(c.scoring_func, "sigmoid");
  EXPECT_EQ(c.topk_method, "noaux_tc");
  EXPECT_TRUE(c.norm_topk_prob);
  EXPECT_DOUBLE_EQ(c.routed_scaling_factor, 2.5);
  EXPECT_TRUE(c.rope_interleaved);
  EXPECT_FALSE(c.is_moe_layer(0));
  EXPECT_TRUE(c.is_moe_layer(1));
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::Yarn);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 64);
  EXPECT_DOUBLE_EQ(c.rope_scaling.mscale_all_dim, 1.0);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{1});
  EXPECT_FALSE(c.fp8.has_value());
}

TEST(ConfigTest, DeepSeekV2LiteWithoutQLoraUsesSingleQueryProjection) {
  ModelConfig c = parse_model_config(fixture_config("deepseek-v2-lite-tiny"), "config.json");
  EXPECT_EQ(c.q_lora_rank, 0);  // "q_lora_rank": null
  EXPECT_EQ(c.topk_method, "greedy");
  EXPECT_EQ(c.scoring_func, "softmax");
  EXPECT_DOUBLE_EQ(c.rope_scaling.mscale, 0.707);
}

TEST(ConfigTest, Fp8FixtureQuantizationConfigGivesBlockSize) {
  ModelConfig c = parse_model_config(fixture_config("deepseek-v3-fp8-tiny"), "config.json");
  ASSERT_TRUE(c.fp8.has_value());
  EXPECT_EQ(c.fp8->block_rows, 128);
  EXPECT_EQ(c.fp8->block_cols, 128);
}

TEST(ConfigTest, QuantizationBlockSizeIsReadInOrder) {
  auto json = fixture_config("deepseek-v3-fp8-tiny");
  json["quantization_config"]["weight_block_size"] = {64, 32};
  ModelConfig c = parse_model_config(json, "config.json");
  ASSERT_TRUE(c.fp8.has_value());
  EXPECT_EQ(c.fp8->block_rows, 64);
  EXPECT_EQ(c.fp8->block_cols, 32);
}

TEST(ConfigTest, NonPositiveQuantizationBlockSizeIsRefused) {
  auto json = fixture_config("deepseek-v3-fp8-tiny");
  json["quantization_config"]["weight_block_size"] = {128, 0};
  EXPECT_THAT(parse_error(json), AllOf(HasSubstr("dir/config.json"), HasSubstr("weight_block_size")));
}

TEST(ConfigTest, QuantMethodOtherThanFp8IsRefused) {
  auto json = fixture_config("deepseek-v3-fp8-tiny");
  json["quantization_config"]["quant_method"] = "gptq";
  EXPECT_THAT(parse_error(json), AllOf(HasSubstr("dir/config.json"), HasSubstr("unsupported quant_method 'gptq'")));
}

TEST(ConfigTest, LlamaFamilyFixturesParse) {
  ModelConfig qwen = parse_model_config(fixture_config("qwen2-tiny"), "config.json");
  EXPECT_EQ(qwen.family, ModelFamily::Llama);
  EXPECT_TRUE(qwen.qkv_bias);
  EXPECT_FALSE(qwen.rope_interleaved);
  EXPECT_EQ(qwen.head_dim, 16);
  EXPECT_EQ(qwen.num_kv_heads, 2);
  EXPECT_EQ(qwen.kv_entry_dim(), 2 * 2 * 16);

  ModelConfig llama = parse_model_config(fixture_config("llama3-tiny"), "config.json");
  EXPECT_FALSE(llama.qkv_bias);
  EXPECT_EQ(llama.rope_scaling.type, RopeScaling::Type::Llama3);
  EXPECT_DOUBLE_EQ(llama.rope_scaling.factor, 8.0);
  EXPECT_DOUBLE_EQ(llama.rope_scaling.high_freq_factor, 4.0);
}

TEST(ConfigTest, UnsupportedModelTypeListsTheSupportedOnes) {
  auto json = fixture_config("qwen2-tiny");
  json["model_type"] = "mistral";
  EXPECT_THAT(parse_error(json), AllOf(HasSubstr("dir/config.json"), HasSubstr("unsupported model_type 'mistral'"),
                                       HasSubstr("deepseek_v2"), HasSubstr("deepseek_v3"), HasSubstr("qwen2"),
                                       HasSubstr("llama")));
}

TEST(ConfigTest, MissingRequiredFieldIsNamed) {
  auto json = fixture_config("deepseek-v3-tiny");
  json.erase("kv_lora_rank");
  EXPECT_THAT(parse_error(json), AllOf(HasSubstr("dir/config.json"), HasSubstr("missing required field 'kv_lora_rank'")));
}

TEST(ConfigTest, StringWhereIntegerExpectedIsNamed) {
  auto json = fixture_config("qwen2-tiny");
  json["num_hidden_layers"] = "2";
  EXPECT_THAT(parse_error(json),
              AllOf(HasSubstr("dir/config.json"), HasSubstr("field 'num_hidden_layers' must be an integer, got \"2\"")));
}

TEST(ConfigTest, FloatWhereIntegerExpectedIsNamed) {
  auto json = fixture_config("qwen2-tiny");
  json["hidden_size"] = 64.5;
  EXPECT_THAT(parse_error(json), HasSubstr("field 'hidden_size' must be an integer, got 64.5"));
}

TEST(ConfigTest, NonPositiveSizeIsOutOfRange) {
  auto json = fixture_config("qwen2-tiny");
  json["vocab_size"] = 0;
  EXPECT_THAT(parse_error(json), HasSubstr("field 'vocab_size' = 0 is out of range"));
}

TEST(ConfigTest, MoreExpertsPerTokenThanExpertsIsRefused) {
  auto json = fixture_config("deepseek-v3-tiny");
  json["num_experts_per_tok"] = 17;
  EXPECT_THAT(parse_error(json), AllOf(HasSubstr("dir/config.json"), HasSubstr("num_experts_per_tok")));
}

TEST(ConfigTest, KeptGroupsTooSmallForTopKIsRefused) {
  auto json = fixture_config("deepseek-v3-tiny");
  json["topk_group"] = 1;  // one group of 4 experts cannot supply 5 choices
  json["num_experts_per_tok"] = 5;
  EXPECT_THAT(parse_error(json), HasSubstr("topk_group groups hold fewer experts than num_experts_per_tok"));
}

TEST(ConfigTest, UnsupportedRopeScalingTypeListsTheSupportedOnes) {
  auto json = fixture_config("llama3-tiny");
  json["rope_scaling"]["rope_type"] = "dynamic";
  EXPECT_THAT(parse_error(json), AllOf(HasSubstr("dir/config.json"), HasSubstr("unsupported rope_scaling type 'dynamic'"),
                                       HasSubstr("yarn"), HasSubstr("llama3")));
}

TEST(ConfigTest, Llama3ScalingWithoutItsFrequencyFactorsIsRefused) {
  auto json = fixture_config("llama3-tiny");
  json["rope_scaling"].erase("low_freq_factor");
  EXPECT_THAT(parse_error(json), AllOf(HasSubstr("rope_scaling"), HasSubstr("missing required field 'low_freq_factor'")));
}

TEST(ConfigTest, UnsupportedScoringFunctionIsNamed) {
  auto json = fixture_config("deepseek-v3-tiny");
  json["scoring_func"] = "tanh";
  EXPECT_THAT(parse_error(json), HasSubstr("unsupported scoring_func 'tanh'"));
}

TEST(ConfigTest, EosOutsideVocabularyIsRefused) {
  auto json = fixture_config("qwen2-tiny");
  json["eos_token_id"] = {1, 512};
  EXPECT_THAT(parse_error(json), HasSubstr("eos_token_id 512 is not a token id below vocab_size 512"));
}

// A value nested a million levels deep, as a hostile config.json can hold.
std::string deeply_nested() { return std::string(1'000'000, '[') + std::string(1'000'000, ']'); }

TEST(ConfigTest, DeeplyNestedFieldIsRefusedWithoutOverflowingTheStack) {
  auto json = parse_json(R"({"model_type": "qwen2", "vocab_size": )" + deeply_nested() + "}", "config.json");
  EXPECT_THAT(parse_error(json), HasSubstr("field 'vocab_size' must be an integer, got array"));
}

TEST(ConfigTest, DeeplyNestedEosIsRefusedWithoutOverflowingTheStack) {
  auto json = fixture_config("qwen2-tiny");
  json["eos_token_id"] = parse_json("[" + deeply_nested() + "]", "eos");
  EXPECT_THAT(parse_error(json), HasSubstr("eos_token_id array is not a token id"));
}

TEST(ConfigTest, ConfigThatIsNotAnObjectIsRefused) {
  EXPECT_THAT(parse_error(nlohmann::json::array({1, 2})), HasSubstr("dir/config.json: config must be a JSON object"));
}

TEST(ConfigTest, DirectoryWithoutConfigSaysWhatItLookedFor) {
  testing::TempDir dir;
  EXPECT_THAT(error_of([&] { load_model_config(dir.path()); }),
              AllOf(HasSubstr((dir / "config.json").string()), HasSubstr("not found")));
}

}  // namespace
}  // namespace tide
