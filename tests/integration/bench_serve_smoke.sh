#!/usr/bin/env bash
# Smoke test of `tide bench serve` against a real `tide serve` on the tiny DeepSeek-V3 fixture:
# 20 streamed requests at a low rate must all complete, and the JSON report must carry TTFT,
# TPOT and ITL percentiles. Usage: bench_serve_smoke.sh TIDE_BINARY SOURCE_DIR
# The whole test is bounded by 120 s; the server and the benchmark are stopped either way.
set -euo pipefail

if [[ -z "${TIDE_SMOKE_BOUNDED:-}" ]]; then
  # timeout signals its whole process group on expiry, so the server started below goes too.
  TIDE_SMOKE_BOUNDED=1 exec timeout 120 "$0" "$@"
fi

tide=$1
root=$2
work=$(mktemp -d)
server_pid=""

cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 124' TERM INT

die() {
  echo "bench_serve_smoke: $*" >&2
  echo "--- server log" >&2
  cat "$work/server.log" >&2 || true
  exit 1
}

"$tide" serve --model "$root/tests/fixtures/models/deepseek-v3-tiny" --port 0 >"$work/server.log" 2>&1 &
server_pid=$!

# Port 0 lets the system pick a free port; the server names it when it is ready.
url=""
for _ in $(seq 600); do
  url=$(grep -o 'listening on http://[^ ]*' "$work/server.log" | head -n 1 | sed 's/^listening on //') || true
  [[ -n "$url" ]] && break
  kill -0 "$server_pid" 2>/dev/null || die "the server exited before listening"
  sleep 0.1
done
[[ -n "$url" ]] || die "the server did not report 'listening on' within 60 s"

"$tide" bench serve --url "$url" --num-requests 20 --request-rate 10 --arrival poisson --seed 1 \
  --prompt-len uniform:8,24 --output-len fixed:8 --timeout-s 30 --json "$work/out.json" \
  || die "tide bench serve failed"

node -e '
  const report = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const problems = [];
  if (report.requests.completed !== 20) problems.push(`completed ${report.requests.completed}, expected 20`);
  if (report.errors.total !== 0) problems.push(`errors: ${JSON.stringify(report.errors.by_kind)}`);
  for (const metric of ["ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"])
    for (const stat of ["mean", "p50", "p90", "p99"])
      if (typeof report[metric]?.[stat] !== "number" || !(report[metric][stat] >= 0))
        problems.push(`${metric}.${stat} is ${report[metric]?.[stat]}`);
  if (report.tokens.output !== 20 * 8) problems.push(`output tokens ${report.tokens.output}, expected 160`);
  if (problems.length) { console.error(problems.join("\n")); process.exit(1); }
' "$work/out.json" || die "the JSON report is not as expected: $(cat "$work/out.json")"

echo "bench_serve_smoke: ok"
