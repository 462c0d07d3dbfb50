// The decode and prefill MoE ops of a forward pass against their CPU twins on awkward sizes:
// grouping rows by expert and the weighted combine, the decode-sized launches (moe_gemv, with
// the norms folded into the kernels that read them), and the grouped expert GEMMs. Skipped
// without a GPU. (Part of the CudaModelOps suite; the other ops are in cuda_model_ops_test.cc.)
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>
#include <set>

#include "backend/cpu/ops.h"
#include "backend/cuda/gemm.h"
#include "cuda_test_support.h"
#include "model/config.h"
#include "model/cuda/router_params.h"

namespace tide::cuda {
namespace {

TEST(CudaModelOps, MoeGroupByExpertAndCombine) {
  REQUIRE_DEVICE();
  for (auto [tokens, experts, top_k] : {std::tuple{1, 8, 3}, {5, 16, 4}, {300, 64, 6}, {2000, 256, 8}})
    for (int64_t dim : {64, 129, 7176}) {  // 7176: more vector lanes than the block has threads
      if (dim > 1024 && tokens > 300) continue;
      const std::string what = "T=" + std::to_string(tokens) + " E=" + std::to_string(experts) +
                               " k=" + std::to_string(top_k) + " dim=" + std::to_string(dim);
      auto rng = rng_for("moe " + what);
      // Distinct experts per token, as the router gives.
      std::vector<int32_t> ids;
      std::vector<int32_t> all(experts);
      std::iota(all.begin(), all.end(), 0);
      for (int t = 0; t < tokens; ++t) {
        std::shuffle(all.begin(), all.end(), rng);
        ids.insert(ids.end(), all.begin(), all.begin() + top_k);
      }
      const int64_t rows = static_cast<int64_t>(tokens) * top_k;
      DeviceBuffer<int32_t> dids(ids), counts(experts), offsets(experts), permuted(rows), assignment(rows);
      permuted.fill_bytes(0xff);
      assignment.fill_bytes(0xff);
      moe_group_by_expert(dids.data(), tokens, top_k, experts, counts.data(), offsets.data(), permuted.data(),
                          assignment.data(), nullptr);
      sync();
      const auto hc = counts.download(), ho = offsets.download(), hp = permuted.download(), ha = assignment.download();
      // The CPU twin: MoeBlock::forward's per-expert token lists.
      std::map<int, std::multiset<int32_t>> assigned;
      for (int64_t i = 0; i < rows; ++i) assigned[ids[i]].insert(static_cast<int32_t>(i / top_k));
      bool ok = true;
      for (int e = 0, running = 0; e < experts; ++e) {
        ok &= ho[e] == running && hc[e] == static_cast<int32_t>(assigned[e].size());
        ok &= std::multiset<int32_t>(hp.begin() + ho[e], hp.begin() + ho[e] + hc[e]) == assigned[e];
        running += hc[e];
      }
      for (int64_t i = 0; i < rows; ++i) ok &= ha[i] >= 0 && ha[i] < rows && hp[ha[i]] == i / top_k;
      report("moe_group", what, ok ? 0.0 : 1.0, 0.0);

      // Combine, with and without a base (the shared experts), in place over the base.
      const auto expert_out = random_bf16(rows * dim, rng), base = random_bf16(tokens * dim, rng);
      std::vector<float> weights(rows);
      std::uniform_real_distribution<float> wdist(0.05f, 1.f);
      for (auto& w : weights) w = wdist(rng);
      DeviceBuffer<uint16_t> dexpert(expert_out), dbase(base), dout(tokens * dim);
      DeviceBuffer<float> dweights(weights);
      for (bool with_base : {false, true}) {
        dout.fill_bytes(0xff);
        bf16* out = with_base ? as_bf16(dbase) : as_bf16(dout);
        moe_combine(as_bf16(dexpert), assignment.data(), dweights.data(), tokens, top_k, dim,
                    with_base ? as_bf16(dbase) : nullptr, out, nullptr);
        sync();
        const auto ef = widen(expert_out), bf = widen(base);
        std::vector<float> ref(tokens * dim);
        for (int t = 0; t < tokens; ++t)
          for (int64_t d = 0; d < dim; ++d) {
            float sum = with_base ? bf[t * dim + d] : 0.f;
            for (int j = 0; j < top_k; ++j) sum += weights[t * top_k + j] * ef[ha[t * top_k + j] * dim + d];
            ref[t * dim + d] = sum;
          }
        report("moe_combine", what + (with_base ? " +shared" : ""),
               rel_err(widen(with_base ? dbase.download() : dout.download()), ref), kBf16Tolerance);
      }
    }
}

// Slices of a row-major matrix: rows [first, first + count) and columns [first, first + count).
std::vector<float> row_slice(const std::vector<float>& m, int64_t cols, int64_t first, int64_t count) {
  return {m.begin() + first * cols, m.begin() + (first + count) * cols};
}
std::vector<float> column_slice(const std::vector<float>& m, int64_t cols, int64_t first, int64_t count) {
  std::vector<float> out;
  for (int64_t r = 0; r < static_cast<int64_t>(m.size()) / cols; ++r)
    out.insert(out.end(), m.begin() + r * cols + first, m.begin() + r * cols + first + count);
  return out;
}

// Decode-sized MoE: each token's routed choices and its shared experts' slices, then their sum
// with the gate weights; top_k 0 is a dense MLP. Odd widths take the kernels' scalar path.
// The moe_gemv tests' routing and experts: each token's top_k distinct experts and gate weights
// in [0.05, 1), every expert's gate_up and down and the shared experts' slices, on the host (for
// references) and the device, and the MoeGemv over them.
struct MoeShape { int64_t hidden, inter; int tokens, top_k, experts, shared; };

std::string describe(const MoeShape& s) {
  return "hidden=" + std::to_string(s.hidden) + " inter=" + std::to_string(s.inter) + " T=" + std::to_string(s.tokens) +
         " k=" + std::to_string(s.top_k) + " shared=" + std::to_string(s.shared);
}

struct RandomMoe {
  RandomMoe(const MoeShape& s, std::mt19937& rng) : shape(s) {
    std::vector<int32_t> all(s.experts);
    std::iota(all.begin(), all.end(), 0);
    for (int t = 0; t < s.tokens; ++t) {
      std::shuffle(all.begin(), all.end(), rng);
      ids.insert(ids.end(), all.begin(), all.begin() + s.top_k);
    }
    gate_weights.resize(ids.size());
    std::uniform_real_distribution<float> wdist(0.05f, 1.f);
    for (auto& g : gate_weights) g = wdist(rng);
    const float in_scale = 1.f / std::sqrt(float(s.hidden)), inter_scale = 1.f / std::sqrt(float(s.inter));
    std::vector<const bf16*> gate_up_ptrs, down_ptrs;
    for (int e = 0; e < s.experts; ++e) {
      gate_up.push_back(random_bf16(2 * s.inter * s.hidden, rng, 0.f, in_scale));
      down.push_back(random_bf16(s.hidden * s.inter, rng, 0.f, inter_scale));
      dgate_up.emplace_back(gate_up.back());
      ddown.emplace_back(down.back());
      gate_up_ptrs.push_back(as_bf16(dgate_up.back()));
      down_ptrs.push_back(as_bf16(ddown.back()));
    }
    shared_gate_up = random_bf16(2 * s.shared * s.inter * s.hidden, rng, 0.f, in_scale);
    shared_down = random_bf16(s.hidden * s.shared * s.inter, rng, 0.f, inter_scale);
    dgate_up_ptrs = DeviceBuffer<const bf16*>(gate_up_ptrs);
    ddown_ptrs = DeviceBuffer<const bf16*>(down_ptrs);
    dshared_gate_up = DeviceBuffer<uint16_t>(shared_gate_up);
    dshared_down = DeviceBuffer<uint16_t>(shared_down);
    dids = DeviceBuffer<int32_t>(ids);
    dgate_weights = DeviceBuffer<float>(gate_weights);
  }

  MoeGemv gemv() {
    const MoeShape& s = shape;
    return {.tokens = s.tokens, .hidden = s.hidden, .inter = s.inter, .top_k = s.top_k,
            .ids = s.top_k ? dids.data() : nullptr, .weights = s.top_k ? dgate_weights.data() : nullptr,
            .gate_up = s.top_k ? dgate_up_ptrs.data() : nullptr, .down = s.top_k ? ddown_ptrs.data() : nullptr,
            .shared = s.shared, .shared_gate_up = s.shared ? as_bf16(dshared_gate_up) : nullptr,
            .shared_down = s.shared ? as_bf16(dshared_down) : nullptr};
  }

  MoeShape shape;
  std::vector<int32_t> ids;
  std::vector<float> gate_weights;
  std::vector<std::vector<uint16_t>> gate_up, down;
  std::vector<uint16_t> shared_gate_up, shared_down;
  std::vector<DeviceBuffer<uint16_t>> dgate_up, ddown;
  DeviceBuffer<const bf16*> dgate_up_ptrs, ddown_ptrs;
  DeviceBuffer<uint16_t> dshared_gate_up, dshared_down;
  DeviceBuffer<int32_t> dids;
  DeviceBuffer<float> dgate_weights;
};

// With V2-Lite's experts and its dense first layer (one slot, its down split in eight segments),
// three slots of two segments each, and rows of odd width in four segments.
constexpr MoeShape kMoeGemvShapes[] = {{64, 32, 1, 4, 16, 0},     {129, 45, 3, 2, 5, 1},     {2048, 1408, 1, 6, 64, 2},
                                       {2048, 1408, 2, 6, 64, 2}, {7168, 2048, 2, 8, 12, 1}, {136, 2200, 2, 0, 0, 1},
                                       {40, 24, 1, 15, 20, 1},    {2048, 10944, 1, 0, 0, 1}, {256, 1408, 1, 2, 8, 1},
                                       {129, 1001, 2, 0, 0, 1}};

TEST(CudaModelOps, MoeGemvMatchesEachSlotsExpertAndTheWeightedSum) {
  REQUIRE_DEVICE();
  for (const MoeShape& s : kMoeGemvShapes) {
    const std::string what = describe(s);
    auto rng = rng_for("moe_gemv " + what);
    const int slots = s.top_k + s.shared;
    const auto h = random_bf16(s.tokens * s.hidden, rng);
    RandomMoe moe(s, rng);
    const auto& ids = moe.ids;
    const auto& gate_weights = moe.gate_weights;
    const auto& gate_up = moe.gate_up;
    const auto& down = moe.down;
    DeviceBuffer<uint16_t> dh(h), dact(s.tokens * slots * s.inter), dout(s.tokens * s.hidden);
    dact.fill_bytes(0xff);
    dout.fill_bytes(0xff);
    const MoeGemv m = moe.gemv();
    moe_gemv_gate_up(m, {.x = as_bf16(dh)}, as_bf16(dact), nullptr);
    moe_gemv_down(m, as_bf16(dact), as_bf16(dout), nullptr);
    // The shared slots ahead of the router read h from L2 without waiting: the same activations.
    MoeGemv ahead = m;
    ahead.shared_ahead_of_router = true;
    DeviceBuffer<uint16_t> dact_ahead(s.tokens * slots * s.inter);
    moe_gemv_gate_up(ahead, {.x = as_bf16(dh)}, as_bf16(dact_ahead), nullptr);
    sync();
    EXPECT_EQ(dact_ahead.download(), dact.download()) << what << ": the shared slots ahead of the router";

    const auto sgu = widen(moe.shared_gate_up), sd = widen(moe.shared_down);
    const auto round = [](float v) { return bf16_to_f32(f32_to_bf16(v)); };
    // The CPU twin on input rows x: each slot's activations, and the weighted sum of the down
    // products taken from the kernel's own activations (act), so that a rounding flip there does
    // not count twice.
    const auto references = [&](const std::vector<float>& x_rows, const std::vector<float>& act) {
      std::vector<float> act_ref, out_ref;
      for (int t = 0; t < s.tokens; ++t) {
        const auto x = row_slice(x_rows, s.hidden, t, 1);
        std::vector<float> routed(s.hidden, 0.f), shared(s.hidden, 0.f);
        for (int slot = 0; slot < slots; ++slot) {
          std::vector<float> gate, up, down_w;
          float weight = 1.f;
          if (slot < s.top_k) {
            const auto gu = widen(gate_up[ids[t * s.top_k + slot]]);
            gate = row_slice(gu, s.hidden, 0, s.inter);
            up = row_slice(gu, s.hidden, s.inter, s.inter);
            down_w = widen(down[ids[t * s.top_k + slot]]);
            weight = gate_weights[t * s.top_k + slot];
          } else {
            const int64_t j = slot - s.top_k;
            gate = row_slice(sgu, s.hidden, j * s.inter, s.inter);
            up = row_slice(sgu, s.hidden, (s.shared + j) * s.inter, s.inter);
            down_w = column_slice(sd, s.shared * s.inter, j * s.inter, s.inter);
          }
          // The gate_up GEMM's bf16 outputs through SiLU·mul, rounded to bf16 (silu_mul's rounding).
          auto g = matmul_ref(x, 1, gate, s.inter, s.hidden), u = matmul_ref(x, 1, up, s.inter, s.hidden);
          for (auto* v : {&g, &u})
            for (float& e : *v) e = round(e);
          std::vector<float> a(s.inter);
          cpu::silu_mul(g.data(), u.data(), s.inter, a.data());
          for (float& e : a) e = round(e);
          act_ref.insert(act_ref.end(), a.begin(), a.end());
          const auto y = matmul_ref(row_slice(act, s.inter, t * slots + slot, 1), 1, down_w, s.hidden, s.inter);
          for (int64_t d = 0; d < s.hidden; ++d) {
            if (slot < s.top_k)
              routed[d] += weight * round(y[d]);
            else
              shared[d] += y[d];
          }
        }
        // The shared experts' output and each routed one rounded to bf16, as the grouped path stores them.
        for (int64_t d = 0; d < s.hidden; ++d) out_ref.push_back((s.shared ? round(shared[d]) : 0.f) + routed[d]);
      }
      return std::pair{act_ref, out_ref};
    };
    const auto act = widen(dact.download());
    const auto [act_ref, out_ref] = references(widen(h), act);
    report("moe_gemv", what + " gate_up", rel_err(act, act_ref), kBf16Tolerance);
    report("moe_gemv", what + " down", rel_err(widen(dout.download()), out_ref), kBf16Tolerance);

    // Folded into a decode step, with the routed slots: the input normalised as it is read
    // (rms_norm of the residual plus delta) and the output added into the residual, against the
    // CPU's norm and the same references.
    if (s.hidden % 8 != 0 || s.inter % 8 != 0) continue;  // normalising needs rows of 16-byte pieces
    constexpr float eps = 1e-6f;
    const auto delta = random_bf16(s.tokens * s.hidden, rng), norm_weight = random_bf16(s.hidden, rng, 1.f, 0.2f);
    DeviceBuffer<uint16_t> dres(h), ddelta(delta), dnorm(norm_weight), dact_normed(s.tokens * slots * s.inter);
    dact_normed.fill_bytes(0xff);
    const GemvInput normed_input{.x = as_bf16(dres), .delta = as_bf16(ddelta), .norm_weight = as_bf16(dnorm), .eps = eps};
    moe_gemv_gate_up(m, normed_input, as_bf16(dact_normed), nullptr);
    moe_gemv_down_into_residual(m, as_bf16(dact_normed), as_bf16(ddelta), as_bf16(dres), nullptr);
    sync();
    const auto hf = widen(h), df = widen(delta), wf = widen(norm_weight);
    std::vector<float> summed(hf.size()), normed(hf.size());
    for (int t = 0; t < s.tokens; ++t) {
      double squares = 0;
      for (int64_t d = 0; d < s.hidden; ++d) {
        const int64_t i = t * s.hidden + d;
        summed[i] = round(hf[i] + df[i]);  // rms_norm stores the residual in bf16
        squares += double{summed[i]} * summed[i];
      }
      const float inv = 1.f / std::sqrt(static_cast<float>(squares / s.hidden) + eps);
      for (int64_t d = 0; d < s.hidden; ++d) {
        const int64_t i = t * s.hidden + d;
        normed[i] = round(summed[i] * inv * wf[d]);
      }
    }
    const auto act_normed = widen(dact_normed.download());
    const auto [act_normed_ref, out_normed_ref] = references(normed, act_normed);
    std::vector<float> residual_ref(summed.size());
    for (std::size_t i = 0; i < summed.size(); ++i) residual_ref[i] = round(summed[i] + round(out_normed_ref[i]));
    report("moe_gemv", what + " normed gate_up", rel_err(act_normed, act_normed_ref), kBf16Tolerance);
    const auto residual = widen(dres.download());
    report("moe_gemv", what + " into the residual", rel_err(residual, residual_ref), kBf16Tolerance);
    // The residual's h + delta dominates the check above, so the MoE's own share is compared too:
    // what the kernels added against what the references add (both after the residual's rounding).
    auto added = residual, added_ref = residual_ref;
    for (std::size_t i = 0; i < summed.size(); ++i) {
      added[i] -= summed[i];
      added_ref[i] -= summed[i];
    }
    report("moe_gemv", what + " added to the residual", rel_err(added, added_ref), kBf16Tolerance);
  }
}

TEST(CudaModelOps, MoeGemvRefusesWhatItCannotRun) {
  REQUIRE_DEVICE();
  DeviceBuffer<uint16_t> buffer(64);
  const MoeGemv no_slots{.tokens = 1, .hidden = 64, .inter = 32};
  EXPECT_THROW(moe_gemv_gate_up(no_slots, {.x = as_bf16(buffer)}, as_bf16(buffer), nullptr), Error);
  const MoeGemv no_ids{.tokens = 1, .hidden = 64, .inter = 32, .top_k = 2};
  EXPECT_THROW(moe_gemv_down(no_ids, as_bf16(buffer), as_bf16(buffer), nullptr), Error);
  MoeGemv too_wide{.tokens = 1, .hidden = 16384, .inter = 32, .shared = 1, .shared_gate_up = as_bf16(buffer),
                   .shared_down = as_bf16(buffer)};
  EXPECT_THROW(moe_gemv_gate_up(too_wide, {.x = as_bf16(buffer)}, as_bf16(buffer), nullptr), Error);
}

// The decode kernels that normalise their input as they read it (a folded decode step) against
// rms_norm followed by the plain kernel, with and without a delta to add first: the same values,
// bit for bit where the kernels' 256-thread blocks sum the squares in rms_norm's order (up to 2048
// features, one chunk a thread); and moe_gemv_down folded into the residual against moe_gemv_down
// followed by rms_norm's residual adds, bit for bit always. The kernels that only read the
// residual leave it as it was.
TEST(CudaModelOps, FoldedDecodeKernelsMatchRmsNormThenThePlainKernels) {
  REQUIRE_DEVICE();
  const float eps = 1e-6f;
  for (const int64_t hidden : {2048, 136, 7168})
    for (const bool with_delta : {true, false})
      for (int64_t tokens = 1; tokens <= kGemvMaxRows; ++tokens) {
        const std::string what = "hidden=" + std::to_string(hidden) + " T=" + std::to_string(tokens) +
                                 (with_delta ? " +delta" : "");
        const double tolerance = hidden <= 2048 ? 0.0 : 1e-3;
        auto rng = rng_for("folded " + what);
        const int64_t out = 72, inter = 40;
        const auto residual = random_bf16(tokens * hidden, rng), delta = random_bf16(tokens * hidden, rng);
        const auto norm_weight = random_bf16(hidden, rng, 1.f, 0.2f);
        const auto w = random_bf16(out * hidden, rng, 0.f, 1.f / std::sqrt(float(hidden)));
        const auto gate_up = random_bf16(2 * inter * hidden, rng, 0.f, 1.f / std::sqrt(float(hidden)));
        const auto down = random_bf16(hidden * inter, rng, 0.f, 1.f / std::sqrt(float(inter)));
        DeviceBuffer<uint16_t> dres(residual), ddelta(delta), dnorm(norm_weight), dw(w), dgate_up(gate_up), ddown(down);
        // The plain form: rms_norm stores the residual add and the normalised rows.
        DeviceBuffer<uint16_t> dres_plain(residual), dh(tokens * hidden);
        if (with_delta)
          rms_norm(as_bf16(ddelta), as_bf16(dres_plain), tokens, hidden, as_bf16(dnorm), eps, as_bf16(dh), nullptr);
        else
          rms_norm(as_bf16(dres_plain), nullptr, tokens, hidden, as_bf16(dnorm), eps, as_bf16(dh), nullptr);
        const GemvInput normed{.x = as_bf16(dres), .delta = with_delta ? as_bf16(ddelta) : nullptr,
                               .norm_weight = as_bf16(dnorm), .eps = eps};

        DeviceBuffer<uint16_t> dy_folded(tokens * out), dy_plain(tokens * out);
        gemv_nt(normed, tokens, as_bf16(dw), out, hidden, as_bf16(dy_folded), nullptr);
        gemv_nt(as_bf16(dh), tokens, as_bf16(dw), out, hidden, as_bf16(dy_plain), nullptr);

        const MoeGemv m{.tokens = tokens, .hidden = hidden, .inter = inter, .shared = 1,
                        .shared_gate_up = as_bf16(dgate_up), .shared_down = as_bf16(ddown)};
        DeviceBuffer<uint16_t> dact_folded(tokens * inter), dact_plain(tokens * inter), dmlp_out(tokens * hidden);
        moe_gemv_gate_up(m, normed, as_bf16(dact_folded), nullptr);
        moe_gemv_gate_up(m, {.x = as_bf16(dh)}, as_bf16(dact_plain), nullptr);
        MoeGemv ahead = m;  // the shared slot ahead of the router: its rows normalised from L2
        ahead.shared_ahead_of_router = true;
        DeviceBuffer<uint16_t> dact_ahead(tokens * inter);
        moe_gemv_gate_up(ahead, normed, as_bf16(dact_ahead), nullptr);
        // Down from the same activations both ways: folded into a copy of the residual before the
        // attention's add, and plain, then added as rms_norm adds it (after the delta's add).
        DeviceBuffer<uint16_t> dres_folded(residual), dres_added(residual), dscratch(tokens * hidden);
        moe_gemv_down_into_residual(m, as_bf16(dact_plain), as_bf16(ddelta), as_bf16(dres_folded), nullptr);
        moe_gemv_down(m, as_bf16(dact_plain), as_bf16(dmlp_out), nullptr);
        rms_norm(as_bf16(ddelta), as_bf16(dres_added), tokens, hidden, as_bf16(dnorm), eps, as_bf16(dscratch), nullptr);
        rms_norm(as_bf16(dmlp_out), as_bf16(dres_added), tokens, hidden, as_bf16(dnorm), eps, as_bf16(dscratch),
                 nullptr);

        // The router on both forms of the input (V2-Lite's: 64 experts, top 6).
        ModelConfig c;
        c.n_routed_experts = 64;
        c.num_experts_per_tok = 6;
        const auto router = random_bf16(64 * hidden, rng, 0.f, 1.f / std::sqrt(float(hidden)));
        DeviceBuffer<uint16_t> drouter(router);
        DeviceBuffer<unsigned> done(std::vector<unsigned>{0});
        DeviceBuffer<float> dlogits_folded(tokens * 64), dlogits_plain(tokens * 64), dweights(tokens * 6);
        DeviceBuffer<int32_t> dids(tokens * 6);
        route_experts_gemv(normed, tokens, as_bf16(drouter), hidden, nullptr, router_params(c), dlogits_folded.data(),
                           done.data(), dids.data(), dweights.data(), nullptr);
        route_experts_gemv({.x = as_bf16(dh)}, tokens, as_bf16(drouter), hidden, nullptr, router_params(c),
                           dlogits_plain.data(), done.data(), dids.data(), dweights.data(), nullptr);
        sync();

        report("folded", what + " gemv_nt", rel_err(widen(dy_folded.download()), widen(dy_plain.download())), tolerance);
        report("folded", what + " moe_gemv_gate_up",
               rel_err(widen(dact_folded.download()), widen(dact_plain.download())), tolerance);
        report("folded", what + " router", rel_err(dlogits_folded.download(), dlogits_plain.download()), tolerance);
        EXPECT_EQ(dact_ahead.download(), dact_folded.download()) << what << ": the shared slot ahead of the router";
        EXPECT_EQ(dres_folded.download(), dres_added.download()) << what << ": the residual after the feed-forward";
        EXPECT_EQ(dres.download(), residual) << what << ": a kernel that only reads the residual wrote it";
      }
}

// A grouped expert GEMM as the model calls it: x, x_rows, offsets, counts, experts, the rows over
// all experts, the weights by expert, out, in, y.
using GroupedGemm = std::function<void(const bf16*, const int32_t*, const int32_t*, const int32_t*, int, int64_t,
                                       const bf16* const*, int64_t, int64_t, bf16*)>;

void expect_grouped_gemm_matches_each_experts_rows(const std::string& name, const GroupedGemm& grouped_gemm) {
  // Experts without rows, part of an m16 tile, exactly one 64-row pass, one row past it, three
  // passes; two 128-row tiles and one row past them; then enough small experts (empty ones on
  // both sides of the 32nd) that finding a row tile's expert spans two warp-wide scans.
  std::vector<int32_t> counts = {3, 0, 1, 33, 7, 64, 65, 130, 257};
  for (int e = static_cast<int>(counts.size()); e < 41; ++e) counts.push_back(e == 31 || e == 32 || e % 5 == 0 ? 0 : 2);
  for (auto [out, in] : {std::pair<int64_t, int64_t>{64, 32}, {130, 72}, {2, 8}, {2816, 2048}, {2048, 1408}}) {
    const std::string what = "out=" + std::to_string(out) + " in=" + std::to_string(in);
    auto rng = rng_for(name + " " + what);
    int64_t total = 0;
    const std::vector<int32_t> offsets = expert_offsets(counts, total);
    const auto x = random_bf16(total * in, rng);
    std::vector<std::vector<uint16_t>> w;
    std::vector<DeviceBuffer<uint16_t>> dw;
    std::vector<const bf16*> pointers;
    for (std::size_t e = 0; e < counts.size(); ++e) {
      w.push_back(random_bf16(out * in, rng, 0.f, 1.f / std::sqrt(float(in))));
      dw.emplace_back(w.back());
      pointers.push_back(as_bf16(dw.back()));
    }
    // One row more than the experts': it must stay as it was.
    DeviceBuffer<uint16_t> dx(x), dy((total + 1) * out);
    DeviceBuffer<int32_t> doffsets(offsets), dcounts(counts);
    DeviceBuffer<const bf16*> dpointers(pointers);
    // The same rows read through x_rows from a shuffled copy: y must not change.
    std::vector<int32_t> x_rows(total);
    std::iota(x_rows.begin(), x_rows.end(), 0);
    std::shuffle(x_rows.begin(), x_rows.end(), rng);
    std::vector<uint16_t> shuffled(x.size());
    for (int64_t r = 0; r < total; ++r)
      std::copy_n(x.begin() + r * in, in, shuffled.begin() + static_cast<int64_t>(x_rows[r]) * in);
    DeviceBuffer<uint16_t> dshuffled(shuffled), dy_indirect((total + 1) * out);
    DeviceBuffer<int32_t> dx_rows(x_rows);
    dy.fill_bytes(0xff);
    dy_indirect.fill_bytes(0xff);
    const int experts = static_cast<int>(counts.size());
    grouped_gemm(as_bf16(dx), nullptr, doffsets.data(), dcounts.data(), experts, total, dpointers.data(), out, in,
                 as_bf16(dy));
    grouped_gemm(as_bf16(dshuffled), dx_rows.data(), doffsets.data(), dcounts.data(), experts, total,
                 dpointers.data(), out, in, as_bf16(dy_indirect));
    sync();
    EXPECT_EQ(dy_indirect.download(), dy.download()) << what << ": rows read through x_rows differ";
    const auto xf = widen(x);
    std::vector<float> ref;
    for (std::size_t e = 0; e < counts.size(); ++e) {
      const auto y = matmul_ref(std::vector<float>(xf.begin() + offsets[e] * in,
                                                   xf.begin() + (offsets[e] + counts[e]) * in),
                                counts[e], widen(w[e]), out, in);
      ref.insert(ref.end(), y.begin(), y.end());
    }
    const auto y = expect_untouched_past(dy.download(), total * out, what);
    report(name, what, rel_err(widen(y), ref), kBf16Tolerance);
  }
}

TEST(CudaModelOps, MoeGroupedGemmMatchesEachExpertsRows) {
  REQUIRE_DEVICE();
  expect_grouped_gemm_matches_each_experts_rows(
      "moe_ggemm", [](const bf16* x, const int32_t* x_rows, const int32_t* offsets, const int32_t* counts, int experts,
                      int64_t, const bf16* const* w, int64_t out, int64_t in, bf16* y) {
        moe_grouped_gemm(x, x_rows, offsets, counts, experts, w, out, in, y, nullptr);
      });
}

TEST(CudaModelOps, MoeGroupedGemmWideMatchesEachExpertsRows) {
  REQUIRE_DEVICE();
  expect_grouped_gemm_matches_each_experts_rows(
      "moe_ggemm_wide", [](const bf16* x, const int32_t* x_rows, const int32_t* offsets, const int32_t* counts,
                           int experts, int64_t rows, const bf16* const* w, int64_t out, int64_t in, bf16* y) {
        moe_grouped_gemm_wide(x, x_rows, offsets, counts, experts, rows, w, out, in, y, nullptr);
      });
}

TEST(CudaModelOps, MoeGroupedGemmWideRefusesShapesItCannotRun) {
  REQUIRE_DEVICE();
  const std::vector<int32_t> counts = {1};
  DeviceBuffer<int32_t> offsets(std::vector<int32_t>{0}), dcounts(counts);
  DeviceBuffer<uint16_t> x(64), w(64 * 64), y(64 * 64);
  DeviceBuffer<const bf16*> pointers(std::vector<const bf16*>{as_bf16(w)});
  EXPECT_THROW(moe_grouped_gemm_wide(as_bf16(x), nullptr, offsets.data(), dcounts.data(), 1, 1, pointers.data(), 64, 12,
                                     as_bf16(y), nullptr),
               Error);  // k not a multiple of 8
  EXPECT_THROW(moe_grouped_gemm_wide(as_bf16(x), nullptr, offsets.data(), dcounts.data(), 1, 1, pointers.data(), 63, 64,
                                     as_bf16(y), nullptr),
               Error);  // n odd
  EXPECT_THROW(moe_grouped_gemm_wide(as_bf16(x), nullptr, offsets.data(), dcounts.data(), 1, int64_t{1} << 24,
                                     pointers.data(), 64, 64, as_bf16(y), nullptr),
               Error);  // more row tiles than a grid holds
}

}  // namespace
}  // namespace tide::cuda
