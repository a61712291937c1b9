#!/usr/bin/env bash
# The loader's coverage-guided fuzz target (fuzz/), for a bounded time: `scripts/fuzz.sh [SECONDS]`
# (default 60). Needs the nightly toolchain (rustup's `nightly`) and cargo-fuzz, which it installs
# when missing. A crash leaves its input in fuzz/artifacts/load/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: no nightly toolchain here (rustup toolchain list); the fuzz target cannot be built" >&2
  exit 1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
mkdir -p fuzz/corpus/load
# -rss_limit_mb: a 2 GB bound (the loader's own budgets keep it far below); -timeout: one input
# taking over 10 s is a hang.
log="$(mktemp)"
# --sanitizer none: the loader is safe Rust, where AddressSanitizer finds nothing a panic, an
# overflow check or the stack guard does not; without it the target builds faster and runs
# several times more inputs in the same time.
if ! cargo +nightly fuzz run --sanitizer none load fuzz/corpus/load fuzz/seeds/load -- \
  -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=65536 >"$log" 2>&1; then
  tail -n 60 "$log"
  echo "fuzz: the loader target failed; the input is under fuzz/artifacts/load/ (replay: cargo +nightly fuzz run load FILE)" >&2
  exit 1
fi
runs="$(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" | tail -n 1)"
rm -f "$log"
echo "fuzz: loader target: ${runs:-done}, no crash"
