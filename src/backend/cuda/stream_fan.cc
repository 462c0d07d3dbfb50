#include "backend/cuda/stream_fan.h"

#include "backend/cuda/cuda_check.h"

namespace tide::cuda {

StreamFan::StreamFan(int width, std::size_t workspace_bytes) {
  try {
    TIDE_CUDA_CHECK(cudaEventCreateWithFlags(&forked_, cudaEventDisableTiming));
    lanes_.resize(width);
    for (Lane& lane : lanes_) {
      TIDE_CUDA_CHECK(cudaStreamCreateWithFlags(&lane.stream, cudaStreamNonBlocking));
      TIDE_CUDA_CHECK(cudaEventCreateWithFlags(&lane.done, cudaEventDisableTiming));
      lane.gemm = std::make_unique<Gemm>(workspace_bytes);
    }
  } catch (...) {
    release();  // no destructor runs for a constructor that throws
    throw;
  }
}

StreamFan::~StreamFan() { release(); }

void StreamFan::release() {
  for (Lane& lane : lanes_) {
    if (lane.done) cudaEventDestroy(lane.done);
    if (lane.stream) cudaStreamDestroy(lane.stream);
  }
  lanes_.clear();
  if (forked_) cudaEventDestroy(forked_);
  forked_ = nullptr;
}

void StreamFan::fork(cudaStream_t origin) {
  TIDE_CUDA_CHECK(cudaEventRecord(forked_, origin));
  for (Lane& lane : lanes_) TIDE_CUDA_CHECK(cudaStreamWaitEvent(lane.stream, forked_, 0));
}

void StreamFan::wait_for_fork() const { TIDE_CUDA_CHECK(cudaEventSynchronize(forked_)); }

void StreamFan::join(cudaStream_t origin) {
  for (Lane& lane : lanes_) {
    TIDE_CUDA_CHECK(cudaEventRecord(lane.done, lane.stream));
    TIDE_CUDA_CHECK(cudaStreamWaitEvent(origin, lane.done, 0));
  }
}

}  // namespace tide::cuda
