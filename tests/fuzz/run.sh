#!/usr/bin/env bash
# Builds the rule-language fuzz target with clang 14 (libFuzzer, AddressSanitizer,
# UndefinedBehaviorSanitizer) in its own build directory and runs it for SECONDS (default 60).
#
#   tests/fuzz/run.sh [SECONDS]
#
# The seed corpus is tests/fuzz/corpus plus examples/*.rules, and tests/fuzz/rules.dict lists
# the language's keywords for the mutator. Inputs the fuzzer finds are kept
# in BUILD_DIR/fuzz-corpus between runs. A crash leaves its input in BUILD_DIR/fuzz-artifacts and
# makes the script exit non-zero. SOCKGATE_FUZZ_BUILD_DIR overrides BUILD_DIR (build-fuzz).
set -euo pipefail

seconds="${1:-60}"
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build_dir="${SOCKGATE_FUZZ_BUILD_DIR:-$source_dir/build-fuzz}"
instrument="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"

cmake -S "$source_dir" -B "$build_dir" -G Ninja \
  -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="$instrument" \
  -DSOCKGATE_BUILD_FUZZ=ON \
  -DSOCKGATE_BUILD_BENCH=OFF >"$build_dir.configure.log" 2>&1 ||
  { cat "$build_dir.configure.log"; exit 1; }
ninja -C "$build_dir" rules_fuzz

corpus="$build_dir/fuzz-corpus"
artifacts="$build_dir/fuzz-artifacts"
mkdir -p "$corpus" "$artifacts"
cp "$source_dir"/tests/fuzz/corpus/* "$source_dir"/examples/*.rules "$corpus"/

# -timeout flags an input that takes over 10 s; -rss_limit_mb bounds memory on a 24 GiB machine.
exec "$build_dir/tests/fuzz/rules_fuzz" \
  -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
  -dict="$source_dir/tests/fuzz/rules.dict" \
  -artifact_prefix="$artifacts/" "$corpus"
