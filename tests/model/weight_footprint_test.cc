// What a decode step reads and a prefill multiplies, on the shipped configs of real models
// (share/models): the figures `tide bench engine` states its rooflines with.
#include <gtest/gtest.h>

#include "model/config.h"
#include "model/weight_footprint.h"

namespace tide {
namespace {

const std::filesystem::path kShipped = std::filesystem::path(TIDE_FIXTURES_DIR) / ".." / ".." / "share" / "models";

TEST(WeightFootprint, EveryShippedConfigParses) {
  for (const char* name : {"deepseek-v2-lite", "deepseek-v2", "deepseek-v3", "deepseek-r1-distill-qwen-7b"})
    EXPECT_NO_THROW(load_model_config(kShipped / name)) << name;
  EXPECT_TRUE(load_model_config(kShipped / "deepseek-v3").fp8.has_value());
}

TEST(WeightFootprint, V2LiteReadsAbout2Point4BillionParametersPerToken) {
  const ModelConfig c = load_model_config(kShipped / "deepseek-v2-lite");
  const double active = static_cast<double>(decode_params_per_token(c));
  EXPECT_GT(active, 2.3e9);  // DeepSeek-V2-Lite: 15.7B parameters, 2.4B active
  EXPECT_LT(active, 2.5e9);
  EXPECT_DOUBLE_EQ(decode_params_per_step(c, 1), active);
}

TEST(WeightFootprint, LargeBatchesReachEveryExpert) {
  const ModelConfig c = load_model_config(kShipped / "deepseek-v2-lite");
  const double all_experts = decode_params_per_step(c, 2000);
  EXPECT_LT(decode_params_per_step(c, 8), decode_params_per_step(c, 64));
  EXPECT_NEAR(decode_params_per_step(c, 256) / all_experts, 1.0, 1e-3);
  // The difference is the experts batch 1 leaves unread and the extra embedding rows.
  const double expert = 3.0 * c.hidden_size * c.moe_intermediate_size;
  const int moe_layers = c.num_layers - c.first_k_dense_replace;
  EXPECT_NEAR(all_experts - decode_params_per_step(c, 1),
              moe_layers * (c.n_routed_experts - c.num_experts_per_tok) * expert + 1999.0 * c.hidden_size,
              1e-6 * all_experts);
}

TEST(WeightFootprint, PrefillMultipliesByTheActiveParameters) {
  const ModelConfig c = load_model_config(kShipped / "deepseek-v3");
  const double per_token = static_cast<double>(forward_matmul_params_per_token(c));
  // DeepSeek-V3: 37B active, of which the embedding and the LM head are 0.93B each.
  EXPECT_GT(per_token, 35e9);
  EXPECT_LT(per_token, 36.5e9);
}

}  // namespace
}  // namespace tide
