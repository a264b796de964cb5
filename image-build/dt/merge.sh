#!/usr/bin/env bash
# Merges hearth-buses.dtsi into Raspberry Pi 4 device trees, in place:
#   merge.sh DTB...
# Each tree is decompiled, the fragment appended (its &{/path} references
# resolve against the tree itself, no overlay symbols needed) and compiled
# back; then check.sh proves the buses are set. A tree that lacks one of the
# nodes the fragment names fails the build instead of booting without buses.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v dtc >/dev/null || { echo "merge.sh: dtc missing (apt-get install device-tree-compiler)" >&2; exit 1; }
for dtb in "$@"; do
  work=$(mktemp -d)
  dtc -q -I dtb -O dts -o "$work/base.dts" "$dtb"
  cat "$work/base.dts" "$here/hearth-buses.dtsi" > "$work/hearth.dts"
  if ! dtc -q -I dts -O dtb -o "$work/hearth.dtb" "$work/hearth.dts" 2> "$work/err"; then
    echo "merge.sh: $(basename "$dtb"): $(head -n3 "$work/err")" >&2; rm -rf "$work"; exit 1
  fi
  "$here/check.sh" "$work/hearth.dtb" >/dev/null || { echo "merge.sh: $(basename "$dtb") fails check.sh after the merge" >&2; rm -rf "$work"; exit 1; }
  mv "$work/hearth.dtb" "$dtb"
  rm -rf "$work"
done
