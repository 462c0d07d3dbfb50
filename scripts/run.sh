#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install dependencies, build, and serve the
# OpenAI-compatible API on http://127.0.0.1:8000 with the built-in demo model (random weights:
# its text is meaningless). Extra arguments go to `tide serve`, e.g.
# scripts/run.sh --model /models/DeepSeek-R1-Distill-Qwen-1.5B --port 9000.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/fetch-demo-tokenizer.sh
./scripts/build.sh release tide
exec ./build/release/src/cli/tide serve --model demo "$@"
