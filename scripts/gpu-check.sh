#!/usr/bin/env bash
# Run ON the GPU machine (CUDA and nvcc installed, root, no network), from the repository root:
#   scripts/gpu-check.sh
# With TIDE_PREBUILT=.gpu-bundle (scripts/gpu-bundle.sh, carried), runs the release build's CUDA
# test binaries from there instead of building (no benchmark). Otherwise:
# Configures the `cuda` preset (or, when the server's dev packages are missing there,
# `cuda-kernels`, which needs only GoogleTest, nlohmann-json and fmt: installed, or carried in
# .gpu-carry/ by scripts/gpu-carry.sh), builds the CUDA op tests, the CUDA model tests and the
# kernel benchmark with all cores, runs both test binaries, runs them again under
# compute-sanitizer memcheck (TIDE_MEMCHECK=0 skips it), and runs the benchmark (TIDE_BENCH=0
# skips it). Logs and bench.json go to $OUT (default build/gpu-check). Exit status: non-zero if
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

if [ -n "${TIDE_PREBUILT:-}" ]; then
  export LD_LIBRARY_PATH="$PWD/$TIDE_PREBUILT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export TIDE_FIXTURES_DIR="$PWD/tests/fixtures"
  test_binaries="$TIDE_PREBUILT/bin/tide_backend_cuda_tests $TIDE_PREBUILT/bin/tide_cuda_model_tests"
  TIDE_BENCH=0
  note "prebuilt: $TIDE_PREBUILT"
else
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
  if ! cmake --build --preset "$preset" -j"$(nproc)" \
      --target tide_backend_cuda_tests tide_cuda_model_tests cuda_kernels_bench engine_bench >>"$OUT/build.log" 2>&1; then
    tail -40 "$OUT/build.log"
    note "build: FAILED (see build.log)"
    exit 1
  fi
  note "build: ok"
  bench=build/$preset/bench/cuda_kernels_bench
  test_binaries="build/$preset/tests/backend/tide_backend_cuda_tests build/$preset/tests/model/tide_cuda_model_tests"
fi

status=0

# Every run is bounded: a hung kernel fails the check instead of eating the device lease.
for tests in $test_binaries; do
  name=$(basename "$tests")
  timeout 300 "$tests" --gtest_color=no >"$OUT/$name.log" 2>&1
  rc=$?
  grep '^\[ CUDA \]' "$OUT/$name.log" | grep -v ' ok$' || true
  grep -E '^\[  (PASSED|FAILED|SKIPPED) |^\[  FAILED  \]' "$OUT/$name.log"
  note "$name: exit $rc, $(grep -c 'FAIL$' "$OUT/$name.log") failing cases, $(grep -c ' ok$' "$OUT/$name.log") ok"
  [ $rc -eq 0 ] || status=1

  if [ "${TIDE_MEMCHECK:-1}" = 1 ] && command -v compute-sanitizer >/dev/null; then
    timeout 420 compute-sanitizer --tool memcheck --error-exitcode 86 "$tests" --gtest_color=no \
      >"$OUT/$name.memcheck.log" 2>&1
    rc=$?
    tail -3 "$OUT/$name.memcheck.log"
    note "$name memcheck: exit $rc ($(grep -m1 'ERROR SUMMARY' "$OUT/$name.memcheck.log"))"
    [ $rc -eq 0 ] || status=1
  fi
done

if [ "${TIDE_BENCH:-1}" = 1 ]; then
  timeout 180 "$bench" ${TIDE_BENCH_ARGS:-} --json "$OUT/bench.json" >"$OUT/bench.log" 2>&1
  rc=$?
  [ $rc -eq 0 ] || status=1
  cat "$OUT/bench.log"
  note "bench: exit $rc"
fi

echo "--- summary"
cat "$summary"
exit $status
