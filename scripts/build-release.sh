#!/usr/bin/env bash
# Builds the `secrets` binary as it is meant to be run and shipped, and prints its path.
#
#   bash scripts/build-release.sh
#
# On glibc Linux it is a static-pie executable: position-independent (ASLR kept) but with no
# shared library to load, so each start skips the dynamic loader (about 0.3 ms of the 1.3 ms
# `secrets sops decrypt` takes), and the same file runs on any Linux machine of that
# architecture, whatever its glibc. That needs the static C library (`libc.a`: part of
# libc6-dev on Debian and Ubuntu, `glibc-static` on Fedora). Elsewhere it is the plain release
# build. `--target` is spelled out so that the static flag reaches the binary only, never the
# build scripts and proc-macros, which must stay dynamic.
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
  *-linux-gnu)
    cargo build --release --locked -q --bin secrets --target "$host" \
      --config "target.$host.rustflags = ['-C', 'target-feature=+crt-static']" >&2
    echo "${CARGO_TARGET_DIR:-$PWD/target}/$host/release/secrets"
    ;;
  *)
    cargo build --release --locked -q --bin secrets >&2
    echo "${CARGO_TARGET_DIR:-$PWD/target}/release/secrets"
    ;;
esac
