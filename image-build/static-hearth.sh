#!/usr/bin/env bash
# Builds the statically linked aarch64 `hearth` (incrementally) and prints
# its path. One place for the flags, so scripts/test.sh's aarch64 release
# build and the image build (build.sh step 2) are the same build: in CI the
# image step then finds it done instead of compiling everything again.
#   image-build/static-hearth.sh          build, print the path
#   image-build/static-hearth.sh --build  build, print nothing
#   image-build/static-hearth.sh --path   print the path only
# HEARTH_STATIC_TARGET_DIR [target/image-static]: a target dir of its own,
# as the static flags would otherwise rebuild a dynamic aarch64 build in
# target/ (and back again).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${HEARTH_STATIC_TARGET_DIR:-$repo/target/image-static}
# The `pi` profile (Cargo.toml): release with whole-program LTO.
bin="$dir/aarch64-unknown-linux-gnu/pi/hearth"
[ "${1:-}" = --path ] && { echo "$bin"; exit 0; }
rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
CARGO_TARGET_DIR="$dir" CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --quiet --profile pi --locked --target aarch64-unknown-linux-gnu -p hearth \
  --manifest-path "$repo/Cargo.toml" >&2
if file "$bin" | grep -q 'dynamically linked'; then
  echo "static-hearth.sh: hearth is not statically linked: $(file "$bin")" >&2; exit 1
fi
[ "${1:-}" = --build ] || echo "$bin"
