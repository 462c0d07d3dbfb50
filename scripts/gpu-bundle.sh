#!/usr/bin/env bash
# Run HERE, after ./scripts/build.sh release on a machine with nvcc: copies the release `tide`, the
# CUDA test binaries and the Debian shared libraries they link beyond glibc, libstdc++ and CUDA
# into .gpu-bundle/ (ignored by git), with the DeepSeek-V3 tokenizer, so that a GPU machine without
# Debian's dev packages can run them: `TIDE_PREBUILT=.gpu-bundle scripts/gpu-check.sh` (the tests
# and memcheck, no build there), and scripts/gpu-serve-bench.sh (`tide serve --device cuda` under
# `tide bench serve`). Name `.gpu-bundle` in the device call's carry list.
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
du -sh .gpu-bundle
ls .gpu-bundle/lib
