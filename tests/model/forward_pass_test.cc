// The families' passes over an op set (decoder_forward.h, deepseek/forward_pass.h,
// llama/forward_pass.h) call their ops in the order the passes document, with each op given
// what the op before it returned. An op set that records its calls stands in for a backend here;
// the fixture tests run the real CPU and CUDA ops.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/config.h"
#include "model/deepseek/forward_pass.h"
#include "model/llama/forward_pass.h"

namespace tide {
namespace {

// Records every call as "op(layer)" or "op(layer, detail)". Normed, Projection and Routes carry
// the layer and the op that made them, so that a call given the wrong one shows in the record.
struct RecordingOps {
  struct Normed {
    int layer;
    LayerNorm which;
  };
  struct Projection {
    int layer;
  };
  struct Routes {
    int layer;
  };

  std::vector<AttentionRun> runs;
  std::vector<std::string> calls;

  void add(const std::string& op, int layer, const std::string& detail = "") {
    calls.push_back(op + "(" + std::to_string(layer) + (detail.empty() ? "" : ", " + detail) + ")");
  }
  static std::string of(const Normed& h) {
    return "norm " + std::to_string(h.layer) + (h.which == LayerNorm::Input ? " in" : " post");
  }
  static std::string run(const AttentionRun& r) { return "rows " + std::to_string(r.first_row); }

  void embed() { calls.push_back("embed"); }
  Normed norm(int layer, LayerNorm which) {
    add(which == LayerNorm::Input ? "norm_in" : "norm_post", layer);
    return {layer, which};
  }
  std::string logits() {
    calls.push_back("logits");
    return "logits";
  }
  // DeepSeek's.
  const std::vector<AttentionRun>& mla_runs() const { return runs; }
  Projection project_attention_inputs(int layer, const Normed& h) {
    add("project", layer, of(h));
    return {layer};
  }
  void write_latent_cache(int layer, const Projection& p) { add("write_latent_cache", layer, "of " + std::to_string(p.layer)); }
  void absorb_queries(int layer, const Projection&, const AttentionRun& r) { add("absorb", layer, run(r)); }
  void attend_latent(int layer, const AttentionRun& r) { add("attend_latent", layer, run(r)); }
  void expand_values(int layer, const AttentionRun& r) { add("expand_values", layer, run(r)); }
  void attend_expanded(int layer, const Projection&, const AttentionRun& r) { add("attend_expanded", layer, run(r)); }
  void project_attention_output(int layer) { add("o_proj", layer); }
  void dense_mlp(int layer, const Normed& h) { add("dense_mlp", layer, of(h)); }
  Routes route(int layer, const Normed& h) {
    add("route", layer, of(h));
    return {layer};
  }
  void experts(int layer, const Normed& h, const Routes& r) {
    add("experts", layer, of(h) + ", routes " + std::to_string(r.layer));
  }
  // Llama's.
  void write_kv_cache(int layer, const Projection& p) { add("write_kv_cache", layer, "of " + std::to_string(p.layer)); }
  void attend(int layer, const Projection&) { add("attend", layer); }
  void mlp(int layer, const Normed& h) { add("mlp", layer, of(h)); }
};

TEST(ForwardPass, DeepSeekRunsEachLayersOpsInOrderWithDenseThenMoeLayers) {
  ModelConfig config;
  config.family = ModelFamily::DeepSeek;
  config.num_layers = 2;
  config.first_k_dense_replace = 1;
  config.n_routed_experts = 4;
  RecordingOps ops;
  ops.runs = {{.first_row = 0, .rows = 2, .sequences = 2}, {.first_row = 2, .rows = 70, .whole_chunk = true}};
  EXPECT_EQ(deepseek_forward(ops, config), "logits");
  const std::vector<std::string> want = {
      "embed",
      "norm_in(0)", "project(0, norm 0 in)", "write_latent_cache(0, of 0)",
      "absorb(0, rows 0)", "attend_latent(0, rows 0)", "expand_values(0, rows 0)", "attend_expanded(0, rows 2)",
      "o_proj(0)",
      "norm_post(0)", "dense_mlp(0, norm 0 post)",
      "norm_in(1)", "project(1, norm 1 in)", "write_latent_cache(1, of 1)",
      "absorb(1, rows 0)", "attend_latent(1, rows 0)", "expand_values(1, rows 0)", "attend_expanded(1, rows 2)",
      "o_proj(1)",
      "norm_post(1)", "route(1, norm 1 post)", "experts(1, norm 1 post, routes 1)",
      "logits"};
  EXPECT_EQ(ops.calls, want);
}

TEST(ForwardPass, LlamaRunsAttentionThenMlpPerLayer) {
  ModelConfig config;
  config.family = ModelFamily::Llama;
  config.num_layers = 2;
  RecordingOps ops;
  EXPECT_EQ(llama_forward(ops, config), "logits");
  const std::vector<std::string> want = {
      "embed",
      "norm_in(0)", "project(0, norm 0 in)", "write_kv_cache(0, of 0)", "attend(0)", "o_proj(0)",
      "norm_post(0)", "mlp(0, norm 0 post)",
      "norm_in(1)", "project(1, norm 1 in)", "write_kv_cache(1, of 1)", "attend(1)", "o_proj(1)",
      "norm_post(1)", "mlp(1, norm 1 post)",
      "logits"};
  EXPECT_EQ(ops.calls, want);
}

}  // namespace
}  // namespace tide
