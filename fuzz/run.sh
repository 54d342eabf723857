#!/usr/bin/env bash
# Builds the fuzz targets (cargo-fuzz, libFuzzer, stable toolchain, no sanitizer) and runs
# each for SECONDS.
#
#   fuzz/run.sh SECONDS [TARGET...]     (all targets when none is named)
#
# New inputs go to fuzz/target/corpus/TARGET (not to the committed seeds in
# fuzz/corpus/TARGET); a crash, timeout or over-large allocation is saved under
# fuzz/artifacts/TARGET/ and makes the script exit non-zero after the other targets ran.
# Extra libFuzzer flags can be given in FUZZ_FLAGS (e.g. FUZZ_FLAGS=-jobs=2).
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build --sanitizer none || exit 1
triple=$(rustc -vV | sed -n 's/^host: //p')
failed=()
for t in "${targets[@]}"; do
  mkdir -p "target/corpus/$t" "artifacts/$t"
  echo "== fuzz $t for ${secs}s"
  # -timeout: a run over 5 s is a hang; -rss_limit_mb: memory actually used (huge
  # allocations are caught before that by the targets' allocator, see src/lib.rs)
  if ! "target/$triple/release/$t" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="artifacts/$t/" ${FUZZ_FLAGS:-} \
      "target/corpus/$t" "corpus/$t" >"target/$t.log" 2>&1; then
    failed+=("$t")
    tail -40 "target/$t.log"
  fi
  grep -E 'DONE +cov|^stat::number_of_executed_units|^stat::peak_rss_mb' "target/$t.log" | tr '\n' ' '
  echo
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: found a failure in: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
