#!/usr/bin/env bash
# Run ON the GPU machine, from the repository root, with .gpu-bundle/ carried (scripts/gpu-bundle.sh):
#   scripts/gpu-serve-bench.sh [MODEL_DIR]   (default share/models/deepseek-v2-lite)
# Starts `tide serve --device cuda --load-format dummy` on MODEL_DIR's config.json and drives it with
# `tide bench serve` at each request rate of $TIDE_RATES (default "2 8 32 inf"): 1k-token prompts
# (token ids, a new seed per rate so that no run hits the prefix cache of another), 256-token
# outputs, $TIDE_REQUESTS requests per rate (default 128), greedy (or $TIDE_TEMPERATURE). Tables go
# to the output, JSON reports and the server's log to $OUT (default build/gpu-serve-bench).
set -uo pipefail
cd "$(dirname "$0")/.."
model=${1:-share/models/deepseek-v2-lite}
OUT=${OUT:-build/gpu-serve-bench}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/.gpu-bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TIDE_HOME="$PWD/.gpu-bundle/home"
tide=.gpu-bundle/bin/tide
port=${TIDE_PORT:-8123}

timeout 900 "$tide" serve --model "$model" --device cuda --load-format dummy --tokenizer demo --port "$port" \
  ${TIDE_SERVE_ARGS:-} >"$OUT/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 240); do
  grep -q "listening on" "$OUT/serve.log" && break
  kill -0 $server 2>/dev/null || { cat "$OUT/serve.log"; echo "tide serve exited before listening" >&2; exit 1; }
  sleep 0.5
done
grep -q "listening on" "$OUT/serve.log" || { cat "$OUT/serve.log"; echo "tide serve did not start listening" >&2; exit 1; }
grep "loaded\|listening" "$OUT/serve.log"

status=0
seed=1
for rate in ${TIDE_RATES:-2 8 32 inf}; do
  echo "=== request rate $rate"
  timeout 300 "$tide" bench serve --url "http://127.0.0.1:$port" --num-requests "${TIDE_REQUESTS:-128}" \
    --request-rate "$rate" --prompt-ids --prompt-id-range 1000,30000 --prompt-len fixed:1024 \
    --output-len fixed:256 --temperature "${TIDE_TEMPERATURE:-0}" --seed $seed \
    --json "$OUT/serve-rate-$rate.json" || status=1
  seed=$((seed + 1))
done
kill -TERM $server
wait $server
tail -5 "$OUT/serve.log"
exit $status
