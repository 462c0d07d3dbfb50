#!/usr/bin/env bash
# Run HERE (a machine with the Debian dev packages), before scripts/gpu-check.sh runs on a GPU
# machine that has CUDA but no GoogleTest, nlohmann-json, fmt or CLI11: copies their sources into
# .gpu-carry/ (ignored by git, 6 MB), which the cuda-kernels preset builds from. Name `.gpu-carry` in the
# device call's carry list.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu-carry
mkdir -p .gpu-carry/include
cp -r /usr/src/googletest .gpu-carry/googletest
cp -r /usr/include/nlohmann .gpu-carry/include/nlohmann
cp -r /usr/include/fmt .gpu-carry/include/fmt
cp -r /usr/include/CLI .gpu-carry/include/CLI
du -sh .gpu-carry
