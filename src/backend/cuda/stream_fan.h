#pragma once
// A few streams forked from one and joined back to it, each with its own Gemm (a cuBLASLt
// workspace serves one stream at a time). For independent GEMMs too small to fill the GPU alone:
// one expert's rows in a long prefill tile about half of an H100's SMs, so experts side by side
// on the lanes keep them all busy. Not thread-safe, like Gemm.
#include <cuda_runtime.h>

#include <memory>
#include <vector>

#include "backend/cuda/gemm.h"

namespace tide::cuda {

class StreamFan {
 public:
  // workspace_bytes per lane's Gemm.
  StreamFan(int width, std::size_t workspace_bytes);
  ~StreamFan();
  StreamFan(const StreamFan&) = delete;
  StreamFan& operator=(const StreamFan&) = delete;

  int width() const { return static_cast<int>(lanes_.size()); }
  // Every lane waits for the work queued on origin so far.
  void fork(cudaStream_t origin);
  // Blocks the host until origin's work up to the last fork is done: a copy to the host that
  // sizes the lanes' work, say.
  void wait_for_fork() const;
  // origin waits for the work queued on every lane so far.
  void join(cudaStream_t origin);
  cudaStream_t stream(int lane) const { return lanes_[lane].stream; }
  Gemm& gemm(int lane) { return *lanes_[lane].gemm; }

 private:
  struct Lane {
    cudaStream_t stream = nullptr;
    cudaEvent_t done = nullptr;
    std::unique_ptr<Gemm> gemm;
  };
  void release();

  std::vector<Lane> lanes_;
  cudaEvent_t forked_ = nullptr;
};

}  // namespace tide::cuda
