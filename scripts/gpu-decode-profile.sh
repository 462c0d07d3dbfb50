#!/usr/bin/env bash
# Run ON the GPU machine, from the repository root, with .gpu-bundle/ carried (scripts/gpu-bundle.sh):
#   scripts/gpu-decode-profile.sh [MODEL_DIR] [BATCH]   (defaults: share/models/deepseek-v2-lite, 1)
# Where a decode step's time goes, kernel by kernel: Nsight Compute times every launch of a few
# decode steps of `tide bench engine` (dummy weights, 1k context) one at a time, and
# decode_step_kernels.py sums one step's launches by kernel. Kernels one at a time take a little
# longer than the same step in a CUDA graph, where dependent launches overlap (docs/notes/decode_batch1.md).
# The raw CSV goes to $OUT (default build/gpu-decode-profile).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-share/models/deepseek-v2-lite}
batch=${2:-1}
OUT=${OUT:-build/gpu-decode-profile}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/.gpu-bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
layers=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["num_hidden_layers"])' "$model/config.json")
csv="$OUT/decode-b$batch.csv"
echo "== profiling 3 decode steps at batch $batch ($model, $layers layers) into $csv"
ncu --csv --page raw --metrics gpu__time_duration.sum --cache-control none --clock-control none \
  .gpu-bundle/bin/tide bench engine --model "$model" --batch "$batch" --context 1024 --prefill 0 --steps 3 >"$csv"
python3 scripts/decode_step_kernels.py "$csv" --layers "$layers"
