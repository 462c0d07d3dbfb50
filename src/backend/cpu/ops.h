#pragma once
// The CPU op set. These float32 kernels are the specification: each CUDA twin is tested
// against the function here on random inputs. Activations are row-major [tokens, features].
#include <cstdint>

#include "tensor/weight_matrix.h"

namespace tide::cpu {

// y[n, w.rows] = x[n, w.cols] · wᵀ (+ bias). Reads each weight row once for all n rows of x, so
// a decode step over a batch costs one pass over the weights.
void matmul(const float* x, int64_t n, const WeightMatrix& w, float* y, const float* bias = nullptr);

// y = x / rms(x) * weight over rows of `dim`; y may alias x.
void rms_norm(const float* x, int64_t n, int64_t dim, const float* weight, double eps, float* y);

// out[i] = silu(gate[i]) * up[i]
void silu_mul(const float* gate, const float* up, int64_t count, float* out);

// In-place rotary embedding of one head vector of `dim` floats with cos/sin of dim/2 entries.
// interleaved: rotate pairs (2i, 2i+1) (DeepSeek); otherwise pairs (i, i + dim/2) (llama, qwen2).
void apply_rope(float* v, int64_t dim, const float* cos, const float* sin, bool interleaved);

// In-place numerically stable softmax over n floats.
void softmax(float* x, int64_t n);

// Attention of q_tokens queries against ctx_len keys of one sequence.
// q: [q_tokens, num_heads, qk_dim] (row stride num_heads*qk_dim).
// Key j of kv head g at k + j*k_stride + g*qk_dim; value at v + j*v_stride + g*v_dim.
// Query token i sits at position q_start + i and sees keys 0..q_start+i (causal).
// out: [q_tokens, num_heads, v_dim]. Heads map to kv heads in groups (GQA; MQA when 1 kv head).
struct AttentionArgs {
  const float* q;
  const float* k;
  const float* v;
  float* out;
  int64_t q_tokens, q_start, ctx_len;
  int64_t num_heads, num_kv_heads, qk_dim, v_dim;
  int64_t k_stride, v_stride;
  float scale;
};
void attention(const AttentionArgs& args);

}  // namespace tide::cpu
