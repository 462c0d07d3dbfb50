#!/usr/bin/env bash
# Run ON the GPU machine (CUDA and nvcc installed, root, no network), from the repository root:
#   scripts/gpu-check.sh
# Configures the `cuda` preset (or, when the server's dev packages are missing there,
# `cuda-kernels`, which needs only GoogleTest and nlohmann-json: installed, or carried in
# .gpu-carry/ by scripts/gpu-carry.sh), builds the CUDA op tests and the kernel benchmark with all
# cores, runs the tests, runs them again under compute-sanitizer memcheck, and runs the
# benchmark. Logs and bench.json go to $OUT (default build/gpu-check). Exit status: non-zero if
# the build, a test, or memcheck failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/gpu-check}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
summary="$OUT/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }

{ nvidia-smi; nvcc --version; cmake --version; } >"$OUT/machine.txt" 2>&1

preset=${TIDE_PRESET:-}
if [ -z "$preset" ]; then
  if cmake --preset cuda >"$OUT/build.log" 2>&1; then
    preset=cuda
  else
    echo "--- cuda preset did not configure; trying cuda-kernels" >>"$OUT/build.log"
    preset=cuda-kernels
    cmake --preset cuda-kernels >>"$OUT/build.log" 2>&1 || { note "configure: FAILED (see build.log)"; exit 1; }
  fi
else
  cmake --preset "$preset" >"$OUT/build.log" 2>&1 || { note "configure $preset: FAILED"; exit 1; }
fi
note "preset: $preset"
if ! cmake --build --preset "$preset" -j"$(nproc)" --target tide_backend_cuda_tests cuda_kernels_bench \
    >>"$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"
  note "build: FAILED (see build.log)"
  exit 1
fi
note "build: ok"

tests=build/$preset/tests/backend/tide_backend_cuda_tests
bench=build/$preset/bench/cuda_kernels_bench
status=0

# Every run is bounded: a hung kernel fails the check instead of eating the device lease.
timeout 180 "$tests" --gtest_color=no >"$OUT/tests.log" 2>&1
rc=$?
grep '^\[ CUDA \]' "$OUT/tests.log"
grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$OUT/tests.log"
note "tests: exit $rc, $(grep -c 'FAIL$' "$OUT/tests.log") failing cases, $(grep -c ' ok$' "$OUT/tests.log") ok"
[ $rc -eq 0 ] || status=1

if command -v compute-sanitizer >/dev/null; then
  timeout 420 compute-sanitizer --tool memcheck --error-exitcode 86 "$tests" --gtest_color=no >"$OUT/memcheck.log" 2>&1
  rc=$?
  tail -5 "$OUT/memcheck.log"
  note "memcheck: exit $rc ($(grep -m1 'ERROR SUMMARY' "$OUT/memcheck.log"))"
  [ $rc -eq 0 ] || status=1
else
  note "memcheck: compute-sanitizer not found"
fi

timeout 180 "$bench" --json "$OUT/bench.json" >"$OUT/bench.log" 2>&1
rc=$?
[ $rc -eq 0 ] || status=1
cat "$OUT/bench.log"
note "bench: exit $rc"

echo "--- summary"
cat "$summary"
exit $status
