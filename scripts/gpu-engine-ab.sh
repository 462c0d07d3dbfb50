#!/usr/bin/env bash
# Run ON the GPU machine, from the repository root, with .gpu-bundle/ carried (scripts/gpu-bundle.sh):
#   scripts/gpu-engine-ab.sh [MODEL_DIR] [NAME:VAR=VALUE[,VAR=VALUE...] ...]
# `tide bench engine` on MODEL_DIR's config (default share/models/deepseek-v2-lite, dummy weights)
# under each setting in turn, $TIDE_AB_ROUNDS rounds (default 2), so that every setting is measured
# on the same card in the same lease and none always runs first. A setting is a name and the
# environment it runs under, e.g. `values-off:TIDE_MLA_VALUES_HERE=0,TIDE_L2_AHEAD_MB=0`; with none
# given, kernels launched as programmatic dependents and not (`pdl-on:TIDE_DEPENDENT_LAUNCH=1
# pdl-off:TIDE_DEPENDENT_LAUNCH=0`). The bench's own arguments come from $TIDE_ENGINE_ARGS
# (default: the issue's rows, batch 1 to 256 at 1k context and an 8k prefill). Each run's table
# goes to the output and its JSON to $OUT (default build/gpu-engine-ab) as NAME-ROUND.json; the
# decode rows of every run come again at the end, setting by setting.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
model=share/models/deepseek-v2-lite
if [ $# -gt 0 ] && [[ $1 != *:* ]]; then
  model=$1
  shift
fi
settings=("$@")
[ ${#settings[@]} -gt 0 ] || settings=(pdl-on:TIDE_DEPENDENT_LAUNCH=1 pdl-off:TIDE_DEPENDENT_LAUNCH=0)
for setting in "${settings[@]}"; do
  name=${setting%%:*}
  if [[ $setting != *:* || -z $name || ! $name =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "gpu-engine-ab: '$setting' is not NAME:VAR=VALUE[,VAR=VALUE...] (a name of letters, digits, . _ -)" >&2
    exit 2
  fi
  IFS=, read -ra assignments <<<"${setting#*:}"
  for assignment in "${assignments[@]}"; do
    [[ $assignment =~ ^[A-Za-z_][A-Za-z0-9_]*=.*$ ]] || {
      echo "gpu-engine-ab: '$assignment' in '$setting' is not VAR=VALUE" >&2
      exit 2
    }
  done
done

OUT=${OUT:-build/gpu-engine-ab}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/.gpu-bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
tide=${TIDE_BIN:-.gpu-bundle/bin/tide}
args=${TIDE_ENGINE_ARGS:---batch 1,2,8,64,256 --context 1024 --prefill 8192 --steps 20}

status=0
for round in $(seq 1 "${TIDE_AB_ROUNDS:-2}"); do
  for setting in "${settings[@]}"; do
    name=${setting%%:*}
    IFS=, read -ra assignments <<<"${setting#*:}"
    echo "== round $round, $name (${assignments[*]})"
    # shellcheck disable=SC2086  # $args is a list of flags
    env "${assignments[@]}" timeout 300 "$tide" bench engine --model "$model" $args \
      --json "$OUT/$name-$round.json" 2>&1 | tee "$OUT/$name-$round.txt" || status=1
  done
done

echo "== decode rows by setting"
for setting in "${settings[@]}"; do
  name=${setting%%:*}
  for round in $(seq 1 "${TIDE_AB_ROUNDS:-2}"); do
    grep -E '^decode' "$OUT/$name-$round.txt" | sed "s/^/$name round $round: /"
  done
done
exit $status
