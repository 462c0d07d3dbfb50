#pragma once
// Every CUDA runtime and cuBLASLt call is checked; a failure throws tide::Error naming the call,
// the source line and the library's own error string, so one GPU run's log says what broke.
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "common/error_type.h"

namespace tide::cuda {

[[noreturn]] inline void throw_cuda_error(const char* what, const char* error, const char* file, int line) {
  throw Error(std::string(file) + ":" + std::to_string(line) + ": " + what + ": " + error);
}

inline void check_cuda(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess) throw_cuda_error(what, cudaGetErrorString(status), file, line);
}

inline void check_cublas(cublasStatus_t status, const char* what, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cuda_error(what, cublasLtGetStatusString(status), file, line);
}

}  // namespace tide::cuda

#define TIDE_CUDA_CHECK(call) ::tide::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define TIDE_CUBLAS_CHECK(call) ::tide::cuda::check_cublas((call), #call, __FILE__, __LINE__)
// After a kernel launch: launch-configuration errors surface here, faults at the next sync.
#define TIDE_CUDA_CHECK_LAUNCH() ::tide::cuda::check_cuda(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)
