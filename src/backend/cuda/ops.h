#pragma once
// The CUDA op set: twins of backend/cpu/ops.h (and of the routers in model/deepseek/moe_router.cc)
// over bf16 activations with fp32 accumulation. Each is tested against its CPU twin on random
// inputs (tests/backend/cuda_ops_test.cc). Activations are row-major [tokens, features]; every
// pointer is device memory; every launch goes to `stream` and returns without synchronising.
// Pointers to bf16 rows are expected 16-byte aligned when the row length is a multiple of 8;
// kernels fall back to scalar access otherwise.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace tide::cuda {

using bf16 = __nv_bfloat16;

// Activations to fp8 e4m3 in blocks of 1×128 (DeepSeek-V3's activation scheme): x [n, k] bf16,
// k a multiple of 128, gives q [n, k] (e4m3 bytes) and scales [k / 128, n] fp32 (block-major,
// the layout cuBLASLt's 128-element vector scaling reads), with x ≈ q · scale and
// scale = amax / 448 of each block (1 for an all-zero block). padded_rows ≥ n: q and the scales
// hold that many rows (the scales' stride), those from n on as zero rows quantize, for GEMMs that
// take whole tiles of rows (Gemm::fp8_block_nt); n where none are wanted.
void quantize_fp8_blocks(const bf16* x, int64_t n, int64_t k, uint8_t* q, float* scales, int64_t padded_rows,
                         cudaStream_t stream);
// quantize_fp8_blocks of rows that lie at two strides: row i of x starts at
// x + (i / group_rows)·group_stride + (i % group_rows)·row_stride (MLA's per-head query rows, a
// token's heads row_stride apart and its tokens group_stride). row_stride and group_stride
// multiples of 4, x 8-byte aligned.
struct QuantizeRows {
  const bf16* x = nullptr;
  int64_t row_stride = 0, group_rows = 1, group_stride = 0;
};
void quantize_fp8_blocks(const QuantizeRows& x, int64_t n, int64_t k, uint8_t* q, float* scales, int64_t padded_rows,
                         cudaStream_t stream);
// silu_mul followed by quantize_fp8_blocks in one pass, bit for bit the same result: gate_up is
// [n, 2*inter] as for silu_mul, q [padded_rows, inter] e4m3, scales [inter/128][padded_rows].
// inter must be a multiple of 128 (the expert widths of V3 and R1 are).
void silu_mul_quantize_fp8_blocks(const bf16* gate_up, int64_t n, int64_t inter, uint8_t* q, float* scales,
                                  int64_t padded_rows, cudaStream_t stream);

// Fused residual add + RMSNorm over n rows of `dim`:
//   residual != nullptr:  residual += x (stored rounded to bf16); y = rms_norm(residual) * weight
//   residual == nullptr:  y = rms_norm(x) * weight
// where rms_norm(v) = v / sqrt(mean(v²) + eps), computed in fp32 on the stored bf16 values, as
// cpu::rms_norm does on float rows. y may alias x.
void rms_norm(const bf16* x, bf16* residual, int64_t n, int64_t dim, const bf16* weight, float eps, bf16* y,
              cudaStream_t stream);
// rms_norm without a residual over rows that sit x_stride and y_stride elements apart (MLA's
// kv_a_layernorm normalises the latent part of each [latent | rope key] row in place).
void rms_norm_strided(const bf16* x, int64_t x_stride, int64_t n, int64_t dim, const bf16* weight, float eps, bf16* y,
                      int64_t y_stride, cudaStream_t stream);
// The input rows of the decode-sized kernels that read them whole (gemv_nt, route_experts_gemv,
// moe_gemv_gate_up): x as stored, or, with norm_weight set, rms_norm's output computed as the
// kernel reads it: rms_norm(delta, x, n, dim, norm_weight, eps, y) would give y (and the same
// values; bit for bit where the kernel's block matches rms_norm's, 256 threads over 2048
// features), but neither y nor the residual add is written. x is then the residual stream and
// delta (may be null) the output of the block before, not yet added to it; dim % 8 == 0 and
// 16-byte aligned rows.
struct GemvInput {
  const bf16* x = nullptr;
  const bf16* delta = nullptr;
  const bf16* norm_weight = nullptr;
  float eps = 0.f;
};

// rms_norm followed by quantize_fp8_blocks in one pass, bit for bit the same result (the
// residual, when given, is updated as rms_norm does): q [n, dim] e4m3, scales [dim/128][n].
// dim must be a multiple of 128; x, residual and weight 16-byte aligned.
void rms_norm_quantize_fp8_blocks(const bf16* x, bf16* residual, int64_t n, int64_t dim, const bf16* weight, float eps,
                                  uint8_t* q, float* scales, cudaStream_t stream);

// In-place rotary embedding, the twin of cpu::apply_rope applied to every head of every token.
// Token t's head h occupies x + t*token_stride + h*head_stride; the rotated part is rope_dim
// (even) elements starting at rope_offset within it (MLA: q's last 64 of 192, the cache entry's
// last 64 of 576). cos and sin are tables [table_positions, rope_dim/2] filled from
// RotaryEmbedding::cos_sin (YaRN's magnitude included), so CPU and GPU rotate by the same angles.
// positions[t] must lie in [0, table_positions).
struct RopeArgs {
  bf16* x;
  int64_t tokens;
  int64_t token_stride;
  int heads;
  int64_t head_stride;
  int rope_offset;
  int rope_dim;
  const int32_t* positions;
  const float* cos;
  const float* sin;
  bool interleaved;  // pairs (2i, 2i+1), DeepSeek; otherwise (i, i + rope_dim/2), llama/qwen2
  // When set, the rotated part goes here instead of back into x (which is then only read): token
  // t's head h at out + t*out_token_stride + h*out_head_stride + out_offset (MLA writes the
  // query's rotated rope part straight into its absorbed row).
  bf16* out = nullptr;
  int64_t out_token_stride = 0;
  int64_t out_head_stride = 0;
  int out_offset = 0;
};
void apply_rope(const RopeArgs& args, cudaStream_t stream);

// SwiGLU's activation on a fused gate_up projection (gate_proj and up_proj rows concatenated, so
// one GEMM yields [n, 2*inter]): out[i, j] = silu(gate_up[i, j]) * gate_up[i, inter + j], the
// twin of cpu::silu_mul(gate, up).
void silu_mul(const bf16* gate_up, int64_t n, int64_t inter, bf16* out, cudaStream_t stream);

// Row copies by index, rows of `dim` bf16 whose starts lie *_stride elements apart:
//   gather_rows:  dst[i] = src[indices[i]]  (embedding lookup, logit rows)
//   scatter_rows: dst[indices[i]] = src[i]  (writing new tokens' entries into the paged cache)
void gather_rows(const bf16* src, int64_t src_stride, const int32_t* indices, int64_t n, int64_t dim, bf16* dst,
                 int64_t dst_stride, cudaStream_t stream);
void scatter_rows(const bf16* src, int64_t src_stride, int64_t n, int64_t dim, const int32_t* indices, bf16* dst,
                  int64_t dst_stride, cudaStream_t stream);
// y[i, j] += bias[j] over n rows of dim (fp32 bias, the sum rounded to bf16): the bias of
// cpu::matmul, added after the GEMM (Qwen2's q/k/v projections).
void add_bias_rows(bf16* y, int64_t n, int64_t dim, const float* bias, cudaStream_t stream);

// x[i] = uniform in [-bound, bound) from a hash of (seed, i); the same seed gives the same values
// on every GPU. fill_constant sets every element to `value`.
void fill_uniform(bf16* x, std::size_t n, uint64_t seed, float bound, cudaStream_t stream);
void fill_constant(bf16* x, std::size_t n, float value, cudaStream_t stream);
// q[i] = e4m3 of a uniform draw on [-448, 448), from the same hash (dummy fp8 weights).
void fill_uniform_e4m3(uint8_t* q, std::size_t n, uint64_t seed, cudaStream_t stream);

// Greedy sampling: out[r] = the index of the largest of logits[r, 0..vocab), ties to the lowest
// index (std::max_element, torch.argmax). Logits are fp32 and contain no NaN.
void argmax_rows(const float* logits, int64_t rows, int64_t vocab, int32_t* out, cudaStream_t stream);
// Per row: at temperatures[r] == 0 the argmax as above; above 0 a draw from softmax(row /
// temperature) as argmax of fmaf(logit, 1 / temperature, gumbel_noise(seeds[r], i)) over the
// finite logits (tensor/gumbel.h): the twin of pick_token (model/batch_layout.h). Both arrays on
// the device, or both null (every row greedy).
void sample_rows(const float* logits, int64_t rows, int64_t vocab, const float* temperatures, const uint64_t* seeds,
                 int32_t* out, cudaStream_t stream);

// DeepSeek's MoE router, the twin of tide::route_token (model/deepseek/moe_router.cc) for every
// token of a [tokens, experts] fp32 logits buffer. ids and weights are [tokens, top_k], in the
// CPU's order (descending selection score). The fields mirror ModelConfig:
//   grouped   = topk_method != "greedy" && n_group > 1
//   normalize = norm_topk_prob && top_k > 1
//   scale     = model_type != "deepseek_v2" || !normalize  (V2 scales only unnormalised weights)
// Limits: experts <= 256, experts % n_group == 0, n_group <= 32, top_k <= experts.
struct RouterParams {
  enum class Scoring { Softmax, Sigmoid };
  enum class GroupScore { Max, TopTwoSum };  // group_limited_greedy, noaux_tc
  int experts = 0;
  int top_k = 0;
  Scoring scoring = Scoring::Softmax;
  bool grouped = false;
  GroupScore group_score = GroupScore::Max;
  int n_group = 1;
  int topk_group = 1;
  bool normalize = false;
  bool scale = true;
  float routed_scaling_factor = 1.f;
};
// bias: e_score_correction_bias [experts], or nullptr.
void route_experts(const float* logits, int64_t tokens, const float* bias, const RouterParams& params, int32_t* ids,
                   float* weights, cudaStream_t stream);
// The router's GEMV and route_experts in one launch for decode-sized steps (1..kGemvMaxRows
// tokens): logits [tokens, experts] fp32 = h [tokens, hidden] · routerᵀ (router [experts, hidden],
// hidden % 8 == 0, 16-byte aligned rows), then ids and weights as route_experts gives them.
// done: a device counter that is 0 before the launch; the launch leaves it 0 again (one counter
// per stream: launches on it must not overlap).
void route_experts_gemv(const GemvInput& h, int64_t tokens, const bf16* router, int64_t hidden, const float* bias,
                        const RouterParams& params, float* logits, unsigned* done, int32_t* ids, float* weights,
                        cudaStream_t stream);

// MLA's cache write for the new tokens, in one pass per token: entry = [rms_norm(latent) * norm_weight
// | rope(key)] of kv row t ([latent_dim | rope_dim] of the kv_a projection, rows kv_stride apart)
// into cache slot slots[t] (block * block_size + offset) of one layer's cache
// [slots, latent_dim + rope_dim]. The twin of cpu::rms_norm then cpu::apply_rope on the row, as
// MlaAttention::project does before copying it into the cache; cos/sin as for apply_rope.
struct LatentCacheWrite {
  const bf16* kv;
  int64_t kv_stride;
  int64_t tokens;
  int latent_dim;
  int rope_dim;
  const bf16* norm_weight;
  float eps;
  const int32_t* positions;
  const float* cos;
  const float* sin;
  bool interleaved;
  const int32_t* slots;
  bf16* cache;
  // When query.heads > 0, the same launch also does apply_rope(query) for the same tokens (MLA
  // rotates each new token's query beside its cache entry); query.tokens must equal tokens.
  RopeArgs query{};
};
void write_latent_cache(const LatentCacheWrite& args, cudaStream_t stream);

// The MoE step around the expert GEMMs, the twin of MoeBlock::forward's grouping and weighted sum.
// moe_group_by_expert: ids [tokens, top_k] (route_experts) grouped by expert: expert e's rows are
//   expert_offsets[e] .. + expert_counts[e] of the permuted order; permuted_token[row] is the token
//   a row reads (the grouped GEMMs' x_rows); assignment_row[t*top_k + j] is
//   the row of token t's j-th choice. experts <= 1024. Rows are in no particular order within an
//   expert.
void moe_group_by_expert(const int32_t* ids, int64_t tokens, int top_k, int experts, int32_t* expert_counts,
                         int32_t* expert_offsets, int32_t* permuted_token, int32_t* assignment_row,
                         cudaStream_t stream);
// out[t] = base[t] + Σ_j weights[t, j] · expert_out[assignment_row[t*top_k + j]] in fp32, stored
// bf16; base (the shared experts' output) may be null, and may alias out.
void moe_combine(const bf16* expert_out, const int32_t* assignment_row, const float* weights, int64_t tokens,
                 int top_k, int64_t dim, const bf16* base, bf16* out, cudaStream_t stream);

// Decode-sized MoE, and a decode-sized dense SwiGLU MLP, in two launches with no host round trip.
// Token t has top_k + shared slots: its routed choices (slot j: expert ids[t*top_k + j], gate
// weight weights[t*top_k + j], as route_experts writes them), then the shared experts, each of
// weight 1. DeepSeek's shared MLP is one of shared·inter; slot top_k + j is its slice j: gate rows
// [j·inter, +inter), up rows [(shared + j)·inter, +inter) and down columns [j·inter, +inter).
//   moe_gemv_gate_up: act [tokens, slots, inter] = swiglu(gate · h[t], up · h[t]), each product
//                     rounded to bf16 as a gate_up GEMM stores it, then as silu_mul rounds
//   moe_gemv_down:    out [tokens, hidden] = shared + Σ_j weight_j · y_j in fp32, stored bf16,
//                     where y_j = down_j · act[t, j] of routed slot j and shared = Σ of the shared
//                     slots' products, each rounded to bf16 first (as the grouped path's GEMMs
//                     store them before moe_combine adds them); no base: the residual is added
//                     by the next rms_norm
// A dense MLP is top_k = 0, shared = 1. Each token re-reads its matrices, so use these while
// tokens are few (decode). hidden <= 12288, 1..16 slots. The twins of GatedMlp::forward for each
// slot and MoeBlock::forward's weighted sum.
struct MoeGemv {
  int64_t tokens = 0;
  int64_t hidden = 0, inter = 0;
  int top_k = 0;
  const int32_t* ids = nullptr;          // [tokens, top_k]
  const float* weights = nullptr;        // [tokens, top_k]
  const bf16* const* gate_up = nullptr;  // by expert, device array: [2*inter, hidden], gate rows then up rows
  const bf16* const* down = nullptr;     // by expert, device array: [hidden, inter]
  int shared = 0;
  const bf16* shared_gate_up = nullptr;  // [2*shared*inter, hidden]
  const bf16* shared_down = nullptr;     // [hidden, shared*inter]
  // The launch just before moe_gemv_gate_up is the router's (route_experts_gemv or route_experts),
  // which read h only after waiting for h's writer: the shared slots, needing no expert id, then
  // read h without waiting for the router, and their products overlap the routing.
  bool shared_ahead_of_router = false;
};
bool moe_gemv_supported(const MoeGemv& m);  // the shapes' limits above
void moe_gemv_gate_up(const MoeGemv& m, const GemvInput& h, bf16* act, cudaStream_t stream);
// moe_gemv_down and moe_gemv_down_into_residual read the router's ids before waiting for the
// launch before them: that launch must be moe_gemv_gate_up of the same MoeGemv (whose routed
// blocks wait for the ids' writer), or the ids must be complete before it.
void moe_gemv_down(const MoeGemv& m, const bf16* act, bf16* out, cudaStream_t stream);
// moe_gemv_down folded into the residual stream: residual = (residual + delta) + out, each add
// rounded to bf16 (rms_norm's add of delta, then of the stored out), in place: what
// rms_norm(delta, residual, ...) and rms_norm(out, residual, ...) leave in the residual.
void moe_gemv_down_into_residual(const MoeGemv& m, const bf16* act, const bf16* delta, bf16* residual,
                                 cudaStream_t stream);

// Decode-sized dense GEMMs: y[n, out] = x[n, in] · Wᵀ, W [out, in] row-major, fp32 accumulation,
// for 1 <= n <= kGemvMaxRows and in % 8 == 0 with 16-byte aligned rows; bf16 or fp32 output. The
// twin of cpu::matmul; Gemm::bf16_nt and bf16_nt_f32 take this path for such n. (From 3 rows on,
// cuBLASLt's tiles are faster: each input row costs this kernel another pass over L2.)
constexpr int64_t kGemvMaxRows = 2;
void gemv_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, bf16* y, cudaStream_t stream);
void gemv_nt(const bf16* x, int64_t n, const bf16* w, int64_t out, int64_t in, float* y, cudaStream_t stream);
// gemv_nt of normalised rows (GemvInput with norm_weight); in % 8 == 0.
void gemv_nt(const GemvInput& x, int64_t n, const bf16* w, int64_t out, int64_t in, bf16* y, cudaStream_t stream);
// gemv_nt over fp8 weights as DeepSeek-V3's checkpoints store them (gemv_fp8.cu): W = w · scale
// with w e4m3 [out, in] and scale its weight_scale_inv [ceil(out / 128), in / 128] row-major; x
// bf16 as stored or normalised as read (GemvInput), quantized to e4m3 per 1×128 block as it is
// read, as quantize_fp8_blocks does: the arithmetic of Gemm::fp8_block_nt at decode sizes. The
// twin of cpu::matmul on the dequantized operands. in % 128 == 0, 16-byte aligned rows,
// 1..kGemvMaxRows rows.
void gemv_fp8(const GemvInput& x, int64_t n, const uint8_t* w, const float* scales, int64_t out, int64_t in, bf16* y,
              cudaStream_t stream);

// `batch` independent products at fixed strides (MLA's per-head absorption through kv_b_proj):
//   y_b[n, out] = x_b[n, in] · (w_transposed ? W_bᵀ with W_b [out, in] : W_b with W_b [in, out])
// where x_b = x + b*x_batch_stride, rows x_ld apart (likewise w and y). W is weights, which no
// kernel writes: the decode-sized kernel may read them before it waits for the launch before.
struct BatchedGemm {
  const bf16* x;
  int64_t x_ld, x_batch_stride;
  const bf16* w;
  int64_t w_ld, w_batch_stride;
  bool w_transposed;
  bf16* y;
  int64_t y_ld, y_batch_stride;
  int64_t n, out, in;
  int batch;
  // x was written two or more launches back (MLA's queries, with the cache write between): the
  // decode-sized kernel reads it from L2 without waiting for the launch before it, and waits for
  // that launch only before it ends, so that its end still implies the end of all before it. y
  // must be memory that the launch before does not touch.
  bool x_ready_early = false;
};
// BatchedGemm for 1..kGemvMaxRows rows in one dependent launch, fp32 accumulation; the twin of
// cpu::matmul per batch. Needs 16-byte aligned matrix rows (and, with W transposed, x rows):
// gemv_batched_supported says whether it runs (Gemm::bf16_batched takes cuBLASLt otherwise).
bool gemv_batched_supported(const BatchedGemm& args);
void gemv_batched(const BatchedGemm& args, cudaStream_t stream);
// write_latent_cache and, in the same launch, MLA's absorption at decode sizes: gemv_batched of
// `absorb` in its plain form (W not transposed, x_ready_early unset, absorb.n == args.tokens,
// gemv_batched_supported). Both read only the projection before them, so the attention after
// follows one launch, not two.
void write_latent_cache_and_absorb(const LatentCacheWrite& args, const BatchedGemm& absorb, cudaStream_t stream);

// The experts' GEMMs over rows in expert order (moe_group_by_expert), the groups read on the
// device: y[r, :n] = x[x_rows[r], :k] · W_e[:n, :k]^T for each row r of expert e, rows
// expert_offsets[e] .. + expert_counts[e] (x_rows null: x[r]; moe_group_by_expert's permuted_token
// reads the tokens in place of a gather). weights: device array of per-expert pointers to
// row-major [n, k]. Each expert's weights are read once per 64 of its rows, so it runs at HBM
// bandwidth while experts have few rows each; n even, k % 8 == 0, 16-byte aligned rows. The twin
// of cpu::matmul over each expert's rows.
void moe_grouped_gemm(const bf16* x, const int32_t* x_rows, const int32_t* expert_offsets,
                      const int32_t* expert_counts, int experts, const bf16* const* weights, int64_t n, int64_t k,
                      bf16* y, cudaStream_t stream);
// moe_grouped_gemm for experts with hundreds of rows each (long prefills), where the products and
// not the weight reads are the bound: 128 × 256 output tiles through wgmma, every expert in one
// launch, no host round trip. rows: the rows over all experts, the sum of expert_counts (it
// sizes the grid: tiles past it would be dropped). Same operands and contract otherwise.
void moe_grouped_gemm_wide(const bf16* x, const int32_t* x_rows, const int32_t* expert_offsets,
                           const int32_t* expert_counts, int experts, int64_t rows, const bf16* const* weights,
                           int64_t n, int64_t k, bf16* y, cudaStream_t stream);
// The same with DeepSeek-V3's fp8 experts, multiplied in fp8: x e4m3 [*, k] with its 1×128 block
// scales as quantize_fp8_blocks writes them (scale of row s, block b at x_scales[b *
// x_scale_stride + s], x_scale_stride = the rows quantized); weights[e] e4m3 [n, k] as the
// checkpoint stores it, weight_scales[e] its weight_scale_inv [ceil(n / 128), k / 128] row-major.
// k % 128 == 0, n even. The twin of cpu::matmul over the dequantized operands.
void moe_grouped_gemm_fp8(const uint8_t* x, const float* x_scales, int64_t x_scale_stride, const int32_t* x_rows,
                          const int32_t* expert_offsets, const int32_t* expert_counts, int experts,
                          const uint8_t* const* weights, const float* const* weight_scales, int64_t n, int64_t k,
                          bf16* y, cudaStream_t stream);
// A dense product in fp8: y[rows, n] = x · Wᵀ with x e4m3 [rows, k] and its 1×128 block scales
// [k / 128][rows] (quantize_fp8_blocks), W e4m3 [n, k] with its 128×128 block scales
// [ceil(n / 128), k / 128] as the checkpoint stores them. The kernel of moe_grouped_gemm_fp8 with
// every group of 64 rows reading the one matrix, so that the grid is the features' blocks times
// the rows' groups. k a multiple of 128, n even. For the shallow depths cuBLASLt's block-scaled
// fp8 gets wrong (Gemm::kFp8MinDepth); it re-reads W once per 64 rows, so Gemm::fp8_block_nt is
// the faster at DeepSeek-V3's depths.
void gemm_fp8_blocks(const uint8_t* x, const float* x_scales, int64_t rows, const uint8_t* w, const float* w_scales,
                     int64_t n, int64_t k, bf16* y, cudaStream_t stream);
// `batch` independent fp8 products at fixed strides, in one launch (MLA's per-head absorption and
// value expansion through an fp8 kv_b_proj):
//   y_b[r, :out] = x_b[r, :in] · W_bᵀ
// x_b e4m3 rows x_ld apart from x + b·x_batch_stride; the scale of its row r, 1×128 block kb at
// x_scales[b·x_scale_batch_stride + kb·x_scale_block + r·x_scale_ld]; W_b e4m3 [out, in] from
// w + b·w_batch_stride with its 128×128 block scales [ceil(out / 128), in / 128] from
// w_scales + b·w_scale_batch_stride; y_b bf16 rows y_ld apart from y + b·y_batch_stride.
// in a multiple of 128, out even; x, W, x_ld and the batch strides of x and W 16-byte aligned.
// The twin of cpu::matmul per entry on the dequantized operands.
struct Fp8BatchedGemm {
  const uint8_t* x = nullptr;
  const float* x_scales = nullptr;
  int64_t x_ld = 0, x_batch_stride = 0;
  int64_t x_scale_ld = 1, x_scale_block = 0, x_scale_batch_stride = 0;
  const uint8_t* w = nullptr;
  const float* w_scales = nullptr;
  int64_t w_batch_stride = 0, w_scale_batch_stride = 0;
  bf16* y = nullptr;
  int64_t y_ld = 0, y_batch_stride = 0;
  int64_t rows = 0, out = 0, in = 0;
  int batch = 1;
};
void gemm_fp8_batched(const Fp8BatchedGemm& g, cudaStream_t stream);
// gemm_fp8_batched at decode sizes (1..kGemvMaxRows rows) with x in bf16, quantized to e4m3 per
// 1×128 block as it is read (gemv_fp8's arithmetic, the values quantize_fp8_blocks gives): one
// launch where the GEMM takes a quantizing launch and its own, and no 64-row tile for one row.
// x_b rows x_ld apart from x + b·x_batch_stride (bf16 elements; multiples of 8, x 16-byte
// aligned); W_b, its scales and y_b as for gemm_fp8_batched. in a multiple of 128.
struct Fp8BatchedGemv {
  const bf16* x = nullptr;
  int64_t x_ld = 0, x_batch_stride = 0;
  const uint8_t* w = nullptr;
  const float* w_scales = nullptr;
  int64_t w_batch_stride = 0, w_scale_batch_stride = 0;
  bf16* y = nullptr;
  int64_t y_ld = 0, y_batch_stride = 0;
  int64_t rows = 0, out = 0, in = 0;
  int batch = 1;
};
void gemv_fp8_batched(const Fp8BatchedGemv& g, cudaStream_t stream);
// Each of `batch` matrices [rows, cols] (batch_stride elements apart in `in`) transposed into
// out [batch, cols, rows]: MLA's W_UK[h]ᵀ from an fp8 kv_b_proj at load (its e4m3 values, and its
// block scales).
void transpose_matrices(const uint8_t* in, int64_t rows, int64_t cols, int64_t batch_stride, int64_t batch,
                        uint8_t* out, cudaStream_t stream);
void transpose_matrices(const float* in, int64_t rows, int64_t cols, int64_t batch_stride, int64_t batch, float* out,
                        cudaStream_t stream);

// MLA's absorbed attention for any widths, and for prefill rows as well as decode rows: the twin of
// cpu::attention with one kv head, key = the whole cache entry, value = its first value_dim
// elements (or, grouped, of cpu::attention with kv_heads heads: see the fields below). Row r is one query token: it sees cache positions 0..context_lens[r]-1 of the
// sequence whose block table is row r of block_tables (a prefill token's context ends at its
// own position, which makes it causal). q [rows, heads, entry_dim]; out [rows, heads, value_dim];
// cache as for mla_decode. value_dim <= 1024, rows <= 65535. The specialised mla_decode below is
// the fast path for DeepSeek's 512 + 64.
struct LatentAttentionArgs {
  const bf16* q;
  const bf16* cache;
  const int32_t* block_tables;
  int64_t block_table_stride;
  const int32_t* context_lens;
  int rows;
  int heads;
  int entry_dim;
  int value_dim;
  int block_size;
  float scale;
  bf16* out;
  // The grouped-query form (Llama, Qwen2): each entry holds kv_heads keys of key_dim, then, from
  // value_offset, kv_heads values of value_dim; query head h reads group h / (heads / kv_heads),
  // and q is [rows, heads, key_dim]. The defaults are MLA's: one group, the key the whole entry,
  // the value its first value_dim elements.
  int kv_heads = 1;
  int key_dim = 0;  // 0: entry_dim
  int value_offset = 0;
};
void latent_attention(const LatentAttentionArgs& args, cudaStream_t stream);

// MLA absorbed decode attention over the paged latent cache (one new token per sequence), the
// twin of cpu::attention as MlaAttention::attend_latent calls it: multi-query attention with
// key = cache entry [latent 512 | rope key 64], value = latent, head size 576.
//   q:      [batch, heads, 576]  (q_nope absorbed through W_UK, then q_rope)
//   cache:  this layer's blocks, [num_blocks, block_size, 576] (PagedKvCache's layout)
//   block_tables: [batch, block_table_stride]; context_lens: [batch] (device), each >= 1 and
//           <= max_context; the query sees every cached position 0..context_len-1
//   out:    [batch, heads, 512] = softmax(q·kᵀ · scale) · latent
// Split over the context (flash-decoding): plan_mla_decode picks the split; the caller gives a
// device workspace of at least mla_decode_workspace_bytes.
constexpr int kMlaLatentDim = 512;
constexpr int kMlaRopeDim = 64;
constexpr int kMlaEntryDim = kMlaLatentDim + kMlaRopeDim;
struct MlaDecodeArgs {
  const bf16* q;
  const bf16* cache;
  const int32_t* block_tables;
  int64_t block_table_stride;
  const int32_t* context_lens;
  int batch;
  int heads;
  int block_size;
  int max_context;
  float scale;
  bf16* out;
};
struct MlaDecodePlan {
  int splits;  // context chunks per sequence
  int chunk;   // tokens per chunk, a multiple of the kernel's tile
};
MlaDecodePlan plan_mla_decode(const MlaDecodeArgs& args, int sm_count);
std::size_t mla_decode_workspace_bytes(const MlaDecodeArgs& args, const MlaDecodePlan& plan);
void mla_decode(const MlaDecodeArgs& args, const MlaDecodePlan& plan, void* workspace, std::size_t workspace_bytes,
                cudaStream_t stream);

// MLA prefill in the expanded form (mla_prefill.cu): one sequence's `rows` new tokens, the last
// rows of its `context`, attend causally over the whole context (row i sits at position
// context - rows + i and sees 0..that position), the twin of cpu::attention as
// MlaAttention::attend_expanded calls it, with keys [k_nope 128 | the shared rope key 64] and
// values of 128 per head:
//   q_nope: [rows, heads, 128] at the given row and head strides; q_rope: [rows, heads, 64] likewise
//   kv:     [context, heads, 256] = the context's latents through kv_b_proj: [k_nope | v] per head
//   k_rope: [context, 64], the cache entries' rope keys
//   out:    [rows, heads, 128] at out_stride (rows) and out_head_stride = softmax(q·kᵀ · scale) · v
// The widths are DeepSeek's (V2, V2-Lite, V3, R1); latent 512, rope 64.
constexpr int kMlaPrefillNopeDim = 128;
constexpr int kMlaPrefillValueDim = 128;
struct MlaPrefillArgs {
  const bf16* q_nope;
  int64_t q_nope_stride, q_nope_head_stride;
  const bf16* q_rope;
  int64_t q_rope_stride, q_rope_head_stride;
  const bf16* kv;
  const bf16* k_rope;
  int rows;
  int context;
  int heads;
  float scale;
  bf16* out;
  int64_t out_stride, out_head_stride;
};
void mla_prefill(const MlaPrefillArgs& args, cudaStream_t stream);

// Grouped-query prefill (Llama, Qwen2: gqa_prefill.cu): one sequence's `rows` new tokens, the
// last rows of its `context`, attend causally over the whole context (row i sits at position
// context - rows + i and sees 0..that position), read through its block table from the paged
// cache, whose entries are [k of every kv head | v of every kv head], head_dim 128 each; query
// head h reads kv head h / (heads / kv_heads). The twin of cpu::attention over the gathered
// context.
//   q:   [rows, heads, 128];  out: [rows, heads, 128] = softmax(q·kᵀ · scale) · v
constexpr int kGqaHeadDim = 128;  // the head width of gqa_prefill and gqa_decode
struct GqaPrefillArgs {
  const bf16* q;
  const bf16* cache;  // this layer's blocks, [num_blocks, block_size, 2 · kv_heads · 128]
  const int32_t* block_table;
  int block_size;
  int rows;
  int context;
  int heads;
  int kv_heads;
  float scale;
  bf16* out;
};
void gqa_prefill(const GqaPrefillArgs& args, cudaStream_t stream);

// Grouped-query attention of rows that each attend over their own sequence's context (Llama,
// Qwen2: decode rows and short prefill chunks; gqa_decode.cu): row r sees positions
// 0..context_lens[r]-1 through row r of block_tables, in the paged cache of gqa_prefill's
// entries, head_dim 128. Each kv head's keys and values are read once for its whole group of
// query heads (at most kMaxGqaGroup). max_context bounds every context_lens[r] and sizes the split
// over the context; the caller gives a device workspace of gqa_decode_workspace_bytes and
// counters: rows × kv_heads unsigned, zeroed before their first launch (each launch leaves them
// zero). The twin of cpu::attention with kv heads, one query token per row.
//   q: [rows, heads, 128];  out: [rows, heads, 128]
constexpr int kMaxGqaGroup = 16;
struct GqaDecodeArgs {
  const bf16* q;
  const bf16* cache;  // this layer's blocks, [num_blocks, block_size, 2 · kv_heads · 128]
  const int32_t* block_tables;
  int64_t block_table_stride;
  const int32_t* context_lens;
  int rows;
  int heads;
  int kv_heads;
  int block_size;
  int max_context;
  float scale;
  bf16* out;
  unsigned* counters;
};
std::size_t gqa_decode_workspace_bytes(const GqaDecodeArgs& args);
void gqa_decode(const GqaDecodeArgs& args, void* workspace, std::size_t workspace_bytes, cudaStream_t stream);

// One sequence's cache entries for positions 0..context-1, read through its block table, split
// into latent [context, 512] and rope keys [context, 64]: mla_prefill's inputs before kv_b_proj.
struct LatentContextGather {
  const bf16* cache;  // this layer's blocks, [num_blocks, block_size, 576]
  const int32_t* block_table;
  int block_size;
  int context;
  bf16* latent;
  bf16* rope;
};
void gather_latent_context(const LatentContextGather& args, cudaStream_t stream);

}  // namespace tide::cuda
