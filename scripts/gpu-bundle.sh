#!/usr/bin/env bash
# Run HERE, after ./scripts/build.sh release on a machine with nvcc: copies the release `tide`, the
# CUDA test binaries and the Debian shared libraries they link beyond glibc, libstdc++ and CUDA
# into .gpu-bundle/ (ignored by git), with the DeepSeek-V3 tokenizer, so that a GPU machine without
# Debian's dev packages can run them: `TIDE_PREBUILT=.gpu-bundle scripts/gpu-check.sh` (the tests
# and memcheck, no build there), scripts/gpu-serve-bench.sh (`tide serve --device cuda` under
# `tide bench serve`) and scripts/gpu-gateway-bench.sh (scripts/bench-gateway.sh on the GPU
# machine's idle cores, with Debian's nginx, wrk and jq carried in .gpu-bundle/tools). Name
# `.gpu-bundle` in the device call's carry list.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=build/release/src/cli/tide
tokenizer=${TIDE_HOME:-build/tide-home}/deepseek-v3-tokenizer
for b in "$binary" build/release/tests/backend/tide_backend_cuda_tests build/release/tests/model/tide_cuda_model_tests \
    build/release/bench/cuda_kernels_bench; do
  [ -x "$b" ] || { echo "$b is missing: build the release preset first (./scripts/build.sh release)" >&2; exit 1; }
done
[ -f "$tokenizer/tokenizer.json" ] || { echo "no tokenizer in $tokenizer: run scripts/fetch-demo-tokenizer.sh $tokenizer" >&2; exit 1; }
grep -q TIDE_WITH_CUDA build/release/compile_commands.json || { echo "$binary was built without CUDA" >&2; exit 1; }
rm -rf .gpu-bundle
mkdir -p .gpu-bundle/bin .gpu-bundle/lib .gpu-bundle/home
cp "$binary" build/release/tests/backend/tide_backend_cuda_tests build/release/tests/model/tide_cuda_model_tests \
  build/release/bench/cuda_kernels_bench \
  .gpu-bundle/bin/
# Everything but the C library, the C++ runtime and CUDA, which the GPU machine has in newer versions.
ldd .gpu-bundle/bin/* | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -Ev '/(libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+|ld-linux[^/]*|libcuda[^/]*|libcublas[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" .gpu-bundle/lib/; done
cp -r "$tokenizer" .gpu-bundle/home/deepseek-v3-tokenizer

# The gateway benchmark's peers and tools, each behind a wrapper that gives it its own libraries
# (so the GPU machine's programs keep theirs). tools/bin goes first on PATH; tools/fallback last,
# for what the GPU machine's image may lack. A call that runs only the gateway benchmark carries
# .gpu-bundle/bin, .gpu-bundle/lib and .gpu-bundle/tools (not the tokenizer).
bundle_tool() {  # binary, bin|fallback
  local name real
  name=$(basename "$1")
  real=.gpu-bundle/tools/libexec/$name
  cp -L "$1" "$real"
  ldd "$1" | awk '$3 ~ /^\// {print $3}' |
    { grep -Ev '/(libc|libm|libdl|libpthread|librt|libgcc_s|ld-linux[^/]*)\.so' || true; } |
    while read -r lib; do
      [ -e ".gpu-bundle/lib/$(basename "$lib")" ] || cp -L "$lib" .gpu-bundle/tools/lib/
    done
  printf '#!/bin/sh\nhere=$(dirname "$(readlink -f "$0")")/..\nLD_LIBRARY_PATH="$here/lib:$here/../lib" exec "$here/libexec/%s" "$@"\n' \
    "$name" >".gpu-bundle/tools/$2/$name"
  chmod +x ".gpu-bundle/tools/$2/$name"
}
mkdir -p .gpu-bundle/tools/bin .gpu-bundle/tools/fallback .gpu-bundle/tools/libexec .gpu-bundle/tools/lib
for tool in nginx wrk jq; do
  path=$(command -v "$tool") || { echo "$tool is missing: run scripts/install-deps.sh" >&2; exit 1; }
  bundle_tool "$path" bin
done
for tool in taskset; do bundle_tool "$(command -v "$tool")" fallback; done
du -sh .gpu-bundle
ls .gpu-bundle/lib
