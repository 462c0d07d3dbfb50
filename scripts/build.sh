#!/usr/bin/env bash
# Configures and builds one preset (release or asan; asan also builds the fuzzers): scripts/build.sh [PRESET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
cmake --preset "$preset" >/dev/null
jobs="${TIDE_BUILD_JOBS:-$(nproc)}"
cmake --build --preset "$preset" -j "$jobs" ${1:+--target "$@"}
