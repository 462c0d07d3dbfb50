#!/usr/bin/env bash
# Installs everything Tide needs to build and test, from Debian 12 packages only.
# Idempotent: packages already present are skipped, so running it twice is cheap.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libpcre2-dev libboost-dev libboost-system-dev
  libyaml-cpp-dev libhiredis-dev redis-server
  # The gateway's request-body scan (SIMD JSON validation; the gateway reads every body).
  libsimdjson-dev
  # The tide binary's allocator: a request through the gateway makes dozens of small
  # allocations, which jemalloc serves in about half glibc's time.
  libjemalloc-dev
  # The autoscaler's Kubernetes client (HTTPS) and its tests: a test PKI made with the openssl
  # CLI, and a real prometheus for the Prometheus signal source.
  libssl-dev openssl prometheus
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev
  # scripts/bench-gateway.sh: nginx as the upstream and the reference proxy, wrk for closed-loop
  # throughput, jq for its summary, perf for profiling.
  nginx-light wrk jq linux-perf
)
# Node.js (for the tokenizer package and the OpenAI SDK tests) may already come from elsewhere,
# with npm bundled; Debian's npm package conflicts with such a build, so ask only for what is absent.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "tide: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "tide: all build dependencies present"
fi
