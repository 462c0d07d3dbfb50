#!/usr/bin/env bash
# Run ON the GPU machine, from the repository root, with .gpu-bundle/ carried (scripts/gpu-bundle.sh):
#   scripts/gpu-gateway-bench.sh [bench-gateway options]
# scripts/bench-gateway.sh on a many-core machine with nothing else running: each proxy alone on
# $PROXY_CPU (default 8), the upstream and the load generator on $LOAD_CPU (default 0-3), so that
# the load side never takes the proxy's core. Debian's nginx, wrk and jq come from the bundle.
# Results (summary.json and each run's raw output) go to $OUT/gateway (default build/gpu-gateway-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .gpu-bundle/tools/bin ] || { echo "no .gpu-bundle/tools: run scripts/gpu-bundle.sh here and carry .gpu-bundle" >&2; exit 1; }
OUT=${OUT:-build/gpu-gateway-bench}
mkdir -p "$OUT/gateway"
export PATH="$PWD/.gpu-bundle/tools/bin:$PATH:$PWD/.gpu-bundle/tools/fallback"
# `tide` through a wrapper, like the tools: its Debian libraries stay its own.
tide_wrapper="$PWD/.gpu-bundle/tools/bin/tide"
printf '#!/bin/sh\nLD_LIBRARY_PATH="%s/.gpu-bundle/lib" exec "%s/.gpu-bundle/bin/tide" "$@"\n' "$PWD" "$PWD" >"$tide_wrapper"
chmod +x "$tide_wrapper"
echo "gpu-gateway-bench: $(nproc) cores, $(uname -r); nginx $(nginx -v 2>&1 | sed 's/.*\///'), $(wrk -v 2>&1 | head -n1)"
LOAD_CPU=${LOAD_CPU:-0-3} PROXY_CPU=${PROXY_CPU:-8} scripts/bench-gateway.sh --tide "$tide_wrapper" --out "$OUT/gateway" "$@"
