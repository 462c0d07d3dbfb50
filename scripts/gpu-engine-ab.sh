#!/usr/bin/env bash
# Run ON the GPU machine, from the repository root, with .gpu-bundle/ carried (scripts/gpu-bundle.sh):
#   scripts/gpu-engine-ab.sh [MODEL_DIR]   (default share/models/deepseek-v2-lite)
# `tide bench engine` on MODEL_DIR's config (dummy weights) with kernels launched as programmatic
# dependents (the default) and without (TIDE_DEPENDENT_LAUNCH=0), alternating, $TIDE_AB_ROUNDS
# times each (default 2), so that both are measured on the same card in the same lease. The bench's
# own arguments come from $TIDE_ENGINE_ARGS (default: the issue's rows, batch 1 to 256 at 1k
# context and an 8k prefill). Tables go to the output; each run's JSON to $OUT (default
# build/gpu-engine-ab), named pdl-on-N.json and pdl-off-N.json.
set -uo pipefail
cd "$(dirname "$0")/.."
model=${1:-share/models/deepseek-v2-lite}
OUT=${OUT:-build/gpu-engine-ab}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/.gpu-bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
tide=.gpu-bundle/bin/tide
args=${TIDE_ENGINE_ARGS:---batch 1,2,8,64,256 --context 1024 --prefill 8192 --steps 20}

status=0
for round in $(seq 1 "${TIDE_AB_ROUNDS:-2}"); do
  for mode in on off; do
    echo "== round $round, dependent launch $mode"
    flag=1
    [ "$mode" = off ] && flag=0
    # shellcheck disable=SC2086  # $args is a list of flags
    TIDE_DEPENDENT_LAUNCH=$flag timeout 300 "$tide" bench engine --model "$model" $args \
      --json "$OUT/pdl-$mode-$round.json" || status=1
  done
done
exit $status
