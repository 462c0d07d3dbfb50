#pragma once
// The ceilings GPU figures are stated against, measured on the device in the same run: HBM
// bandwidth (a 2 GiB device-to-device copy, read + write), the bf16 tensor-core rate (an 8192³
// cuBLASLt GEMM) and, for models that multiply in fp8, the fp8 rate (the same GEMM block-scaled
// as DeepSeek-V3's weights are, Gemm::fp8_block_nt). Inputs are rotated so that no timed run is
// served from L2.
#include <functional>

namespace tide::cuda {

// Median milliseconds of `reps` runs of run(i) on the default stream, each timed alone with
// events, after `warmup` untimed runs.
double median_ms(int warmup, int reps, const std::function<void(int)>& run);

double measure_copy_gb_per_s();
double measure_bf16_gemm_tflops();
double measure_fp8_gemm_tflops();

}  // namespace tide::cuda
