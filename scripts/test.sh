#!/usr/bin/env bash
# Every test Tide has, as CI runs them on a clean Debian 12 machine without a GPU:
#   1. the release build's unit tests and end-to-end tests (ctest; real processes on 127.0.0.1);
#   2. the same unit tests under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. each libFuzzer target for a bounded time (built in the same clang-14 tree as step 2).
# TIDE_FUZZ_SECONDS (default 20) bounds each fuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."
export TIDE_HOME="${TIDE_HOME:-$PWD/build/tide-home}"

./scripts/install-deps.sh
./scripts/fetch-demo-tokenizer.sh "$TIDE_HOME/deepseek-v3-tokenizer"

echo "== npm packages for the end-to-end tests"
(cd tests/integration && npm ci --no-audit --no-fund --loglevel=error)

echo "== release build and tests"
./scripts/build.sh release
ctest --preset release -j "$(nproc)"

echo "== unit tests under ASan + UBSan"
./scripts/build.sh asan
# The end-to-end suites already ran against the release binary above; the one unit test that
# starts a real `tide serve` uses that binary too.
TIDE_BIN="$PWD/build/release/src/cli/tide" ASAN_OPTIONS=detect_leaks=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --preset asan -j "$(nproc)"

echo "== fuzzers"
# One fuzzer per core at a time; each that fails prints its whole report (the sanitizer's stack and
# the input) and how to reproduce it, and the stage fails once all have run.
export TIDE_FUZZ_SECONDS="${TIDE_FUZZ_SECONDS:-20}"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_fuzzer() {
  local fuzzer=$1 name corpus log
  name=$(basename "$fuzzer")
  corpus="build/asan/corpus/$name"
  log="build/asan/corpus/$name.log"
  mkdir -p "$corpus"
  if ! "$fuzzer" -max_total_time="$TIDE_FUZZ_SECONDS" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
      -print_final_stats=0 -artifact_prefix="build/asan/corpus/$name-" \
      "$corpus" "fuzz/seeds/$name" >"$log" 2>&1; then
    { tail -n 80 "$log"; echo "$name failed; reproduce with: $fuzzer build/asan/corpus/$name-crash-*"; } >&2
    return 1
  fi
  echo "-- $name for ${TIDE_FUZZ_SECONDS}s: $(tail -n 1 "$log")"
}
export -f run_fuzzer
printf '%s\n' build/asan/fuzz/*_fuzz | xargs -P "$(nproc)" -I{} bash -c 'run_fuzzer "$1"' _ {}
echo "all test stages passed"
