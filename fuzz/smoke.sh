#!/usr/bin/env bash
# A short fuzzing run of every target, as CI does it: a crash, a hang or a memory blow-up that
# a few seconds of fuzzing finds fails the run, with the input left in fuzz/artifacts/<target>/.
# Long campaigns use `cargo fuzz` (docs/fuzzing.md); this needs only a stable toolchain and a
# C++ compiler (libFuzzer is built from source by libfuzzer-sys).
#
#   bash fuzz/smoke.sh [SECONDS]     # per target; default 20
#
# The instrumentation flags are the ones `cargo fuzz build -s none` passes (coverage counters,
# comparison tracing, debug assertions, overflow checks); `--target` keeps them off build
# scripts and proc macros.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}

bash seed.sh
host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks" \
  cargo build --release --locked --bins --target "$host"

for source in fuzz_targets/*.rs; do
  target=$(basename "$source" .rs)
  mkdir -p "artifacts/$target"
  echo "fuzzing $target for ${seconds}s"
  log="artifacts/$target/log"
  if ! "target/$host/release/$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="artifacts/$target/" "corpus/$target" > "$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units' "$log"
done
