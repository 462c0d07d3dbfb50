#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install dependencies, build, and run Tide on the
# built-in demo model (random weights: the text it prints is meaningless). Extra arguments go
# to `tide generate`, e.g. scripts/run.sh --model /models/DeepSeek-R1-Distill-Qwen-1.5B --chat.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/fetch-demo-tokenizer.sh
./scripts/build.sh release tide
if [ "$#" -eq 0 ]; then
  set -- --model demo --prompt "The tide rises and" --max-tokens 32 --temperature 0.8 --seed 1
fi
exec ./build/release/src/cli/tide generate "$@"
