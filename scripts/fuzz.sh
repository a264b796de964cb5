#!/usr/bin/env bash
# Runs every cargo-fuzz target in appliance/fuzz for SECONDS each (default
# 20) and prints one line of figures per target. Needs cargo-fuzz; the stable
# toolchain is enough with RUSTC_BOOTSTRAP=1 (set here).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Each target's corpus grows in target/fuzz-corpus/TARGET, started from the
# committed seeds in appliance/fuzz/seeds/TARGET; a crash leaves its input in
# appliance/fuzz/artifacts/TARGET and fails the script. Figures go to
# target/fuzz-figures/TARGET.tsv (scripts/reliability.sh reads them).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
export RUSTC_BOOTSTRAP=1
fuzz=(cargo fuzz)
flags=(--fuzz-dir appliance/fuzz -s none -a --target-dir target/fuzz)
if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir appliance/fuzz); fi
"${fuzz[@]}" build "${flags[@]}" >/dev/null 2>&1 || "${fuzz[@]}" build "${flags[@]}"
mkdir -p target/fuzz-figures
status=0
for t in "${targets[@]}"; do
  corpus=target/fuzz-corpus/$t
  mkdir -p "$corpus"
  if [ -d "appliance/fuzz/seeds/$t" ]; then cp -n appliance/fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true; fi
  log=target/fuzz-figures/$t.log
  if "${fuzz[@]}" run "${flags[@]}" "$t" "$corpus" -- \
      -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  units=$(find "$corpus" -type f | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$seconds" "${execs:-0}" "${cov:-0}" "${ft:-0}" "$units" "$result" \
    | tee "target/fuzz-figures/$t.tsv"
  if [ "$result" != ok ]; then tail -30 "$log"; fi
done
exit "$status"
