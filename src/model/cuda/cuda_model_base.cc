#include "model/cuda/cuda_model_base.h"

#include <algorithm>

#include "backend/cuda/cuda_check.h"
#include "common/error.h"

namespace tide::cuda {
namespace {

constexpr int64_t kTableStrideBucket = 32;

std::string describe_device() {
  int device = 0;
  TIDE_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  TIDE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return fmt::format("cuda:{} ({})", device, prop.name);
}

}  // namespace

CudaModelBase::CudaModelBase(ModelConfig config) : config_(std::move(config)), device_(describe_device()) {
  int device = 0;
  TIDE_CUDA_CHECK(cudaGetDevice(&device));
  TIDE_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device));
  TIDE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

CudaModelBase::~CudaModelBase() {
  for (auto& [key, graph] : graphs_)
    if (graph.exec) cudaGraphExecDestroy(graph.exec);
  if (step_began_) cudaEventDestroy(step_began_);
  if (step_ended_) cudaEventDestroy(step_ended_);
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaModelBase::time_steps_on_gpu() const {
  const std::lock_guard lock(step_mutex_);
  if (step_began_) return;
  TIDE_CUDA_CHECK(cudaEventCreate(&step_began_));
  TIDE_CUDA_CHECK(cudaEventCreate(&step_ended_));
  // Graphs captured before hold no mark of their start: capture them again.
  for (auto& [key, graph] : graphs_)
    if (graph.exec) cudaGraphExecDestroy(graph.exec);
  graphs_.clear();
}

void CudaModelBase::run_step_marked(const Step& step, DeviceKvCache& cache) const {
  if (step_began_) {
    // Captured, a plain record only marks a point of the capture; an external one becomes a node
    // of the graph that records the event at each replay.
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    TIDE_CUDA_CHECK(cudaStreamIsCapturing(stream_, &capturing));
    if (capturing == cudaStreamCaptureStatusActive)
      TIDE_CUDA_CHECK(cudaEventRecordWithFlags(step_began_, stream_, cudaEventRecordExternal));
    else
      TIDE_CUDA_CHECK(cudaEventRecord(step_began_, stream_));
  }
  run_step(step, cache);
}

std::unique_ptr<KvCache> CudaModelBase::make_kv_cache(int num_blocks, int block_size) const {
  return std::make_unique<DeviceKvCache>(config_.num_layers, num_blocks, block_size, config_.kv_entry_dim());
}

std::size_t CudaModelBase::kv_cache_block_bytes(int block_size) const {
  return static_cast<std::size_t>(block_size) * config_.kv_entry_dim() * sizeof(bf16) * config_.num_layers;
}

std::size_t CudaModelBase::device_memory_for_cache(double utilization) const {
  // A step's scratch buffers, cuBLAS's workspaces and the decode graphs: a prefill chunk of a few
  // thousand tokens of V3's widths needs well under this.
  constexpr std::size_t kActivationReserve = std::size_t{4} << 30;
  std::size_t free = 0, total = 0;
  TIDE_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  const double allowed = utilization * static_cast<double>(total) - static_cast<double>(total - free) -
                         static_cast<double>(kActivationReserve);
  return allowed > 0 ? static_cast<std::size_t>(allowed) : 0;
}

CudaModelBase::Step CudaModelBase::upload_step(const Batch& batch, const BatchLayout& layout,
                                                       const DeviceKvCache& cache) const {
  Step step;
  step.tokens = static_cast<int64_t>(batch.tokens.size());
  step.logit_rows = batch.num_logit_rows();
  for (const auto& s : batch.sequences)
    step.table_stride = std::max<int64_t>(step.table_stride, static_cast<int64_t>(s.block_table.size()));
  // Rounded up so that a decode graph keeps serving as its sequences grow by a block (the
  // kernels read a row's table only up to its context; the rest is zero).
  step.table_stride = (step.table_stride + kTableStrideBucket - 1) / kTableStrideBucket * kTableStrideBucket;
  const int64_t T = step.tokens, R = step.logit_rows;
  // One host array, one copy: [ids | positions | slots | context lens | logit rows | tables].
  std::vector<int32_t> host(static_cast<std::size_t>(4 * T + R + T * step.table_stride), 0);
  int32_t* ids = host.data();
  int32_t* positions = ids + T;
  int32_t* slots = positions + T;
  int32_t* context = slots + T;
  int32_t* logit_rows = context + T;
  int32_t* tables = logit_rows + R;
  std::copy(batch.tokens.begin(), batch.tokens.end(), ids);
  const int bs = cache.block_size();
  int64_t r = 0;
  for (std::size_t s = 0; s < batch.sequences.size(); ++s) {
    const SequenceStep& seq = batch.sequences[s];
    for (int64_t i = 0; i < seq.num_tokens; ++i) {
      const int64_t t = layout.token_offset[s] + i, pos = seq.start_position + i;
      positions[t] = static_cast<int32_t>(pos);
      slots[t] = seq.block_table[pos / bs] * bs + static_cast<int32_t>(pos % bs);
      context[t] = static_cast<int32_t>(pos + 1);
      std::copy(seq.block_table.begin(), seq.block_table.end(), tables + t * step.table_stride);
      if (seq.all_logits || i == seq.num_tokens - 1) logit_rows[r++] = static_cast<int32_t>(t);
    }
    step.max_context = std::max<int>(step.max_context, static_cast<int>(seq.start_position + seq.num_tokens));
  }
  plan_step(batch, layout, step);
  int32_t* device = scratch_.get(step_ints_, host.size());
  TIDE_CUDA_CHECK(
      cudaMemcpyAsync(device, host.data(), host.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
  step.token_ids = device;
  step.positions = device + T;
  step.slots = device + 2 * T;
  step.context_lens = device + 3 * T;
  step.logit_row_tokens = device + 4 * T;
  step.block_tables = device + 4 * T + R;
  return step;
}

namespace {

// Decode steps attend with a plan sized for their context rounded up to this, so that one
// captured graph serves a whole range of lengths (the kernel reads each row's true length).
constexpr int kContextBucket = 1024;

}  // namespace

CudaModelBase::Step CudaModelBase::run_batch(const Batch& batch, KvCache& any_cache) const {
  auto* cache = dynamic_cast<DeviceKvCache*>(&any_cache);
  if (!cache) fail("the CUDA model was given a KV cache it did not make (use Model::make_kv_cache)");
  check_batch(batch, config_, *cache);
  for (const auto& s : batch.sequences)
    if (s.start_position + s.num_tokens > config_.max_position_embeddings)
      fail("batch: position {} is past the model's context of {}", s.start_position + s.num_tokens - 1,
           config_.max_position_embeddings);
  const BatchLayout layout(batch);
  Step step = upload_step(batch, layout, *cache);
  const bool decode = std::all_of(batch.sequences.begin(), batch.sequences.end(),
                                  [](const SequenceStep& s) { return s.num_tokens == 1; });
  if (decode) step.max_context = (step.max_context + kContextBucket - 1) / kContextBucket * kContextBucket;
  if (!decode || !run_step_as_graph(step, *cache)) run_step_marked(step, *cache);
  return step;
}

std::vector<float> CudaModelBase::forward(const Batch& batch, KvCache& cache) const {
  const std::lock_guard lock(step_mutex_);
  const Step step = run_batch(batch, cache);
  const int64_t vocab = vocab_rows();
  std::vector<float> host(static_cast<std::size_t>(step.logit_rows * vocab));
  TIDE_CUDA_CHECK(
      cudaMemcpyAsync(host.data(), logits_.data(), host.size() * sizeof(float), cudaMemcpyDeviceToHost, stream_));
  TIDE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return host;
}

StepOutput CudaModelBase::step(const Batch& batch, KvCache& cache) const {
  const std::lock_guard lock(step_mutex_);
  const Step ran = run_batch(batch, cache);
  const int64_t vocab = vocab_rows();
  const std::vector<int64_t> picked_rows = picked_logit_rows(batch);
  StepOutput out;
  std::vector<int32_t> picked;
  const bool any_picked = std::any_of(picked_rows.begin(), picked_rows.end(), [](int64_t r) { return r >= 0; });
  if (any_picked) {
    const auto rows = static_cast<std::size_t>(ran.logit_rows);
    // Each logits row's temperature and seed (0 for rows nobody picks from: a plain argmax).
    std::vector<float> temperatures(rows, 0.f);
    std::vector<uint64_t> seeds(rows, 0);
    for (std::size_t s = 0; s < batch.sequences.size(); ++s)
      if (picked_rows[s] >= 0) {
        temperatures[static_cast<std::size_t>(picked_rows[s])] = batch.sequences[s].temperature;
        seeds[static_cast<std::size_t>(picked_rows[s])] = batch.sequences[s].seed;
      }
    const bool sampled = std::any_of(temperatures.begin(), temperatures.end(), [](float t) { return t > 0.f; });
    if (next_tokens_.size() < rows) next_tokens_ = DeviceBuffer<int32_t>(rows);
    if (sampled && pick_temperatures_.size() < rows) {
      pick_temperatures_ = DeviceBuffer<float>(rows);
      pick_seeds_ = DeviceBuffer<uint64_t>(rows);
    }
    if (sampled) {
      TIDE_CUDA_CHECK(cudaMemcpyAsync(pick_temperatures_.data(), temperatures.data(), rows * sizeof(float),
                                      cudaMemcpyHostToDevice, stream_));
      TIDE_CUDA_CHECK(cudaMemcpyAsync(pick_seeds_.data(), seeds.data(), rows * sizeof(uint64_t),
                                      cudaMemcpyHostToDevice, stream_));
    }
    sample_rows(logits_.data(), ran.logit_rows, vocab, sampled ? pick_temperatures_.data() : nullptr,
                sampled ? pick_seeds_.data() : nullptr, next_tokens_.data(), stream_);
    picked.resize(rows);
    TIDE_CUDA_CHECK(cudaMemcpyAsync(picked.data(), next_tokens_.data(), rows * sizeof(int32_t),
                                    cudaMemcpyDeviceToHost, stream_));
  }
  // The other sequences' rows, one copy per run of adjacent ones.
  out.logits.resize(static_cast<std::size_t>(batch.num_unpicked_logit_rows() * vocab));
  int64_t row = 0, kept = 0, run_start = -1, run_rows = 0;
  auto flush = [&] {
    if (run_rows == 0) return;
    TIDE_CUDA_CHECK(cudaMemcpyAsync(out.logits.data() + kept * vocab, logits_.data() + run_start * vocab,
                                    run_rows * vocab * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    kept += run_rows;
    run_rows = 0;
  };
  for (std::size_t s = 0; s < batch.sequences.size(); ++s) {
    const int64_t rows = batch.sequences[s].all_logits ? batch.sequences[s].num_tokens : 1;
    if (picked_rows[s] >= 0) {
      flush();
    } else {
      if (run_rows == 0) run_start = row;
      run_rows += rows;
    }
    row += rows;
  }
  flush();
  if (step_ended_) TIDE_CUDA_CHECK(cudaEventRecord(step_ended_, stream_));
  TIDE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (step_ended_) {
    float ms = 0.f;
    TIDE_CUDA_CHECK(cudaEventElapsedTime(&ms, step_began_, step_ended_));
    last_step_gpu_ms_ = ms;
  }
  for (std::size_t s = 0; s < batch.sequences.size(); ++s)
    out.next_tokens.push_back(picked_rows[s] >= 0 ? picked[static_cast<std::size_t>(picked_rows[s])] : -1);
  return out;
}

bool CudaModelBase::run_step_as_graph(const Step& step, DeviceKvCache& cache) const {
  const GraphKey key{step.tokens, step.table_stride, step.max_context, cache.layer(0), cache.num_blocks(),
                     cache.block_size()};
  auto [it, inserted] = graphs_.try_emplace(key);
  Graph& graph = it->second;
  graph.last_used = ++graph_clock_;
  if (inserted && graphs_.size() > kMaxGraphs) {
    auto oldest = std::min_element(graphs_.begin(), graphs_.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    if (oldest->second.exec) cudaGraphExecDestroy(oldest->second.exec);
    graphs_.erase(oldest);  // never `it`: it was used last
  }
  if (graph.exec && graph.epoch != scratch_.epoch()) {  // a buffer it points into moved
    cudaGraphExecDestroy(graph.exec);
    graph.exec = nullptr;
  }
  if (!graph.exec) {
    if (inserted || graph.epoch != scratch_.epoch()) {  // size every buffer eagerly; capture next time
      run_step_marked(step, cache);
      graph.epoch = scratch_.epoch();
      return true;
    }
    cudaGraph_t captured = nullptr;
    TIDE_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    try {
      run_step_marked(step, cache);
    } catch (...) {
      cudaStreamEndCapture(stream_, &captured);
      if (captured) cudaGraphDestroy(captured);
      graphs_.erase(it);
      throw;
    }
    TIDE_CUDA_CHECK(cudaStreamEndCapture(stream_, &captured));
    const cudaError_t status = cudaGraphInstantiate(&graph.exec, captured, 0);
    cudaGraphDestroy(captured);
    TIDE_CUDA_CHECK(status);
    if (graph.epoch != scratch_.epoch()) fail("CUDA graph capture of a decode step moved a scratch buffer");
  }
  TIDE_CUDA_CHECK(cudaGraphLaunch(graph.exec, stream_));
  return true;
}

void CudaModelBase::upload_rope_tables(const RotaryEmbedding& rope, DeviceBuffer<float>& cos,
                                       DeviceBuffer<float>& sin) const {
  const std::size_t half = rope.dim() / 2, positions = config_.max_position_embeddings;
  std::vector<float> c(positions * half), s(c.size());
  for (std::size_t p = 0; p < positions; ++p) rope.cos_sin(static_cast<int64_t>(p), c.data() + p * half, s.data() + p * half);
  cos = DeviceBuffer<float>(c);
  sin = DeviceBuffer<float>(s);
}

void CudaModelBase::linear(const DeviceLinear& w, const GemvInput& x, int64_t n, bf16* y) const {
  const int64_t out = w.rows(), in = w.cols();
  if (n <= kGemvMaxRows && w.is_fp8()) {
    gemv_fp8(x, n, w.fp8.data.data(), w.fp8.scales.data(), out, in, y, stream_);
    return;
  }
  if (x.norm_weight) {
    if (n > kGemvMaxRows) fail("linear: rows normalised as read are taken at up to {} rows (got {})", kGemvMaxRows, n);
    gemv_nt(x, n, w.weight.data.data(), out, in, y, stream_);
    return;
  }
  if (!w.is_fp8()) {
    gemm_.bf16_nt(x.x, n, w.weight.data.data(), out, in, y, stream_);
    return;
  }
  const int64_t rows = padded_rows(n);
  uint8_t* q = scratch_.get(fp8_rows_, rows * in);
  float* scales = scratch_.get(fp8_row_scales_, rows * in / 128);
  quantize_fp8_blocks(x.x, n, in, q, scales, rows, stream_);
  multiply_fp8(q, scales, rows, w.fp8, y);
}

void CudaModelBase::multiply_fp8(const uint8_t* x, const float* x_scales, int64_t rows, const DeviceFp8Matrix& w,
                                 bf16* y) const {
  if (w.cols >= Gemm::kFp8MinDepth)
    gemm_.fp8_block_nt(x, x_scales, rows, w.data.data(), w.scales.data(), w.rows, w.cols, y, stream_);
  else
    gemm_fp8_blocks(x, x_scales, rows, w.data.data(), w.scales.data(), w.rows, w.cols, y, stream_);
}

void CudaModelBase::mlp(const GatedMlpWeights& w, const bf16* x, int64_t n, bf16* gate_up, bf16* out) const {
  const int64_t I = w.intermediate();
  linear(w.gate_up, {.x = x}, n, gate_up);
  if (w.down.is_fp8() && n > kGemvMaxRows) {
    // SiLU·mul and the e4m3 quantization of its output in one pass.
    const int64_t rows = padded_rows(n);
    uint8_t* q = scratch_.get(fp8_rows_, rows * I);
    float* scales = scratch_.get(fp8_row_scales_, rows * I / 128);
    silu_mul_quantize_fp8_blocks(gate_up, n, I, q, scales, rows, stream_);
    multiply_fp8(q, scales, rows, w.down.fp8, out);
    return;
  }
  bf16* act = scratch_.get(activation_, n * I);
  silu_mul(gate_up, n, I, act, stream_);
  linear(w.down, {.x = act}, n, out);
}

std::optional<MoeGemv> CudaModelBase::dense_decode_mlp(const GatedMlpWeights& w, int64_t tokens) const {
  if (w.is_fp8()) return std::nullopt;  // the decode MoE kernels read bf16 rows
  const MoeGemv m{.tokens = tokens, .hidden = config_.hidden_size, .inter = w.intermediate(), .shared = 1,
                  .shared_gate_up = w.gate_up.weight.data.data(), .shared_down = w.down.weight.data.data()};
  if (!moe_gemv_supported(m)) return std::nullopt;
  return m;
}

CudaModelBase::DecoderOps::DecoderOps(const CudaModelBase& model, const Step& step)
    : base_(model),
      step_(step),
      tokens_(step.tokens),
      row_capacity_(padded_rows(step.tokens)),
      eps_(static_cast<float>(model.config_.rms_norm_eps)),
      residual_(model.scratch_.get(model.residual_, step.tokens * model.config_.hidden_size)),
      normed_(model.scratch_.get(model.hidden_, step.tokens * model.config_.hidden_size)),
      pending_(model.scratch_.get(model.delta_, row_capacity_ * model.config_.hidden_size)) {}

void CudaModelBase::DecoderOps::embed_with(const DeviceMatrix& table) {
  const int64_t D = base_.config_.hidden_size;
  gather_rows(table.data.data(), D, step_.token_ids, tokens_, D, residual_, D, base_.stream_);
  has_pending_ = false;
}

GemvInput CudaModelBase::DecoderOps::norm_with(const bf16* weight) {
  rms_norm(has_pending_ ? pending_ : residual_, has_pending_ ? residual_ : nullptr, tokens_,
           base_.config_.hidden_size, weight, eps_, normed_, base_.stream_);
  has_pending_ = false;
  return {.x = normed_};
}

bf16* CudaModelBase::DecoderOps::block_output() {
  has_pending_ = true;
  return pending_;
}

void CudaModelBase::DecoderOps::logits_with(const bf16* final_norm, const DeviceMatrix& head) {
  // Only the rows whose logits are wanted go through the final norm and the LM head, the pending
  // output added as they are normalised.
  const int64_t D = base_.config_.hidden_size, R = step_.logit_rows;
  bf16* selected_residual = base_.scratch_.get(base_.logit_rows_, 2 * R * D);
  bf16* selected_pending = selected_residual + R * D;
  bf16* normed = base_.scratch_.get(base_.logit_normed_, R * D);
  gather_rows(residual_, D, step_.logit_row_tokens, R, D, selected_residual, D, base_.stream_);
  if (has_pending_) {
    gather_rows(pending_, D, step_.logit_row_tokens, R, D, selected_pending, D, base_.stream_);
    rms_norm(selected_pending, selected_residual, R, D, final_norm, eps_, normed, base_.stream_);
  } else {
    rms_norm(selected_residual, nullptr, R, D, final_norm, eps_, normed, base_.stream_);
  }
  float* logits = base_.scratch_.get(base_.logits_, R * head.rows);
  base_.gemm_.bf16_nt_f32(normed, R, head.data.data(), head.rows, D, logits, base_.stream_);
}

}  // namespace tide::cuda
