#!/usr/bin/env bash
# Builds Hearth's Raspberry Pi image (arm64; Pi 4 supported, see docs/install.md)
# from Debian 12 packages, without loop devices or a running Pi:
#
#   image-build/build.sh                 -> target/image/hearth-rpi4.img
#
# Steps, each with progress on stdout:
#   1. host tools (mmdebstrap, genimage, qemu-user-static, ...), binfmt
#   2. the statically linked aarch64 `hearth` binary (cargo, incremental)
#   3. the Debian base root (mmdebstrap), cached by a key over its inputs
#   4. the Hearth layer: units, config, users, read-only root layout
#   5. the A/B boot partition (firmware, slot a/ and b/ kernels, config.txt)
#   6. the disk image (genimage): BOOT, rootA, rootB, DATA
#
# Environment:
#   HEARTH_IMAGE_OUT         output directory [target/image]
#   HEARTH_IMAGE_CACHE       cache directory [target/image-cache]
#   HEARTH_IMAGE_DATA_SEED   directory copied onto the DATA partition (tests)
#   HEARTH_IMAGE_VERSION     version string written into the image [git describe]
#   HEARTH_WITH_MOSQUITTO=1  also install the mosquitto broker (off by default)
#   HEARTH_UPDATE_KEY        PEM ed25519 private key signing update bundles
#                            [a development key generated in the cache]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${HEARTH_IMAGE_OUT:-$repo/target/image}
cache=${HEARTH_IMAGE_CACHE:-$repo/target/image-cache}
version=${HEARTH_IMAGE_VERSION:-$(git -C "$repo" describe --always --dirty 2>/dev/null || echo dev)}
mkdir -p "$out" "$cache"
out=$(cd "$out" && pwd)
cache=$(cd "$cache" && pwd)

STEPS=6
t0=$(date +%s)
# Each step's wall time, printed as a table at the end (CI time budget).
phase_names=() phase_starts=()
step() {
  phase_names+=("$1. $2"); phase_starts+=("$(date +%s)")
  printf '\n[%s/%s] %s (%ss elapsed)\n' "$1" "$STEPS" "$2" "$(( $(date +%s) - t0 ))"
}
phase_table() {
  local i end now; now=$(date +%s)
  echo "Phase timings:"
  for i in "${!phase_names[@]}"; do
    end=${phase_starts[$((i + 1))]:-$now}
    printf '    %5ss  %s\n' "$(( end - phase_starts[i] ))" "${phase_names[$i]}"
  done
}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# Long silent commands get a heartbeat so the build never looks hung.
with_ticker() {
  local label=$1; shift
  ( while sleep 15; do printf '    ... %s still running (%ss elapsed)\n' "$label" "$(( $(date +%s) - t0 ))"; done ) &
  local ticker=$!
  local rc=0
  "$@" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$rc"
}

# ---------------------------------------------------------------- 1. tools
step 1 "Host tools"
need=()
for pair in mmdebstrap:mmdebstrap genimage:genimage qemu-aarch64-static:qemu-user-static \
            update-binfmts:binfmt-support mcopy:mtools arch-test:arch-test depmod:kmod file:file curl:curl mkfs.vfat:dosfstools sfdisk:fdisk \
            mke2fs:e2fsprogs aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu openssl:openssl \
            qemu-system-aarch64:qemu-system-arm dtc:device-tree-compiler fdtget:device-tree-compiler; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[ -e /usr/aarch64-linux-gnu/lib/libc.a ] || need+=(libc6-dev-arm64-cross)
if [ "${#need[@]}" -gt 0 ]; then
  echo "    installing: ${need[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=900 update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
    --no-install-recommends "${need[@]}" debootstrap
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
as_root update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "binfmt for qemu-aarch64 is not enabled"; exit 1; }

# ---------------------------------------------------------------- 2. binary
step 2 "Static aarch64 hearth binary"
# The same build as scripts/test.sh's aarch64 release step (static-hearth.sh):
# in CI it is already done by the time the image is built.
with_ticker "cargo build" "$here/static-hearth.sh" --build
bin=$("$here/static-hearth.sh" --path)
echo "    $(file -b "$bin" | cut -d, -f1-2), $(du -h "$bin" | cut -f1)"

# ---------------------------------------------------------------- 3. base
step 3 "Debian base root (cached)"
mosquitto=()
[ "${HEARTH_WITH_MOSQUITTO:-0}" = 1 ] && mosquitto=(mosquitto)
# Packages of the appliance. Only what it runs: no compiler, no ssh server.
packages=(systemd-sysv systemd-resolved systemd-timesyncd udev kmod iproute2 netbase ca-certificates
  linux-image-arm64 initramfs-tools raspi-firmware firmware-brcm80211 wireless-regdb
  avahi-daemon libnss-mdns wpasupplicant hostapd iw busybox openssl curl
  e2fsprogs dosfstools mtools i2c-tools "${mosquitto[@]}")
key=$( { printf '%s\n' "${packages[@]}"; cat "$here/base-hooks.sh"; } | sha256sum | cut -c1-16)
base="$cache/base-$key.tar"
if [ -s "$base" ]; then
  echo "    cached: $(basename "$base") ($(du -h "$base" | cut -f1))"
else
  echo "    mmdebstrap bookworm arm64 (about 3 minutes under emulation)"
  rm -f "$cache"/base-*.tar
  with_ticker "mmdebstrap" as_root mmdebstrap --quiet --variant=minbase --architectures=arm64 --format=tar \
    --dpkgopt=force-confdef --dpkgopt=force-confold \
    --components=main,non-free-firmware \
    --include="$(IFS=,; echo "${packages[*]}")" \
    --essential-hook="$here/base-hooks.sh essential \"\$1\"" \
    --customize-hook="$here/base-hooks.sh customize \"\$1\"" \
    bookworm "$base.part" http://deb.debian.org/debian
  mv "$base.part" "$base"
fi

# ---------------------------------------------------------------- 4. layer
step 4 "Hearth layer: binary, units, config, users, read-only layout"
work="$out/work"
root="$work/root"
as_root rm -rf "$work"
mkdir -p "$root"
as_root tar -C "$root" -xf "$base"
as_root cp -a "$here/rootfs/." "$root/"
as_root install -D -m 0755 "$bin" "$root/usr/bin/hearth"
as_root aarch64-linux-gnu-strip "$root/usr/bin/hearth"
echo "$version" | as_root tee "$root/etc/hearth-version" >/dev/null
# Update bundles are verified against this key (see image-build/bundle.sh).
keydir="$cache/keys"
signing_key=${HEARTH_UPDATE_KEY:-$keydir/update-signing.pem}
if [ ! -s "$signing_key" ]; then
  echo "    generating a development update-signing key in $keydir (NOT for shipping)"
  mkdir -p "$keydir"
  openssl genpkey -algorithm ed25519 -out "$signing_key"
  chmod 0600 "$signing_key"
fi
as_root install -d -m 0755 "$root/usr/share/hearth/update-keys"
openssl pkey -in "$signing_key" -pubout | as_root tee "$root/usr/share/hearth/update-keys/release.pem" >/dev/null
as_root "$here/layer.sh" "$root"

# ---------------------------------------------------------------- 5. boot
step 5 "Boot partition: firmware, slots a/ and b/"
disk_id=4ea27a00   # genimage.cfg's disk-signature
as_root "$here/boot-layout.sh" "$root" "$disk_id"

# ---------------------------------------------------------------- 6. image
step 6 "Disk image (genimage)"
if [ -n "${HEARTH_IMAGE_DATA_SEED:-}" ]; then
  echo "    data partition seeded from $HEARTH_IMAGE_DATA_SEED"
  as_root cp -a "$HEARTH_IMAGE_DATA_SEED/." "$root/data/"
fi
as_root rm -rf "$work/genimage-tmp"
rm -f "$out"/hearth-rpi4.img "$out"/*.ext4 "$out"/*.vfat
as_root genimage --config "$here/genimage.cfg" --rootpath "$root" --tmppath "$work/genimage-tmp" \
  --inputpath "$out" --outputpath "$out" >"$work/genimage.log" 2>&1 || { cat "$work/genimage.log"; exit 1; }
# The slot's kernel and boot files beside the image: qemu -kernel/-initrd,
# and the --boot-dir of update bundles.
rm -rf "$out/boot-a"
as_root cp -r "$root/boot/firmware/a" "$out/boot-a"
as_root chown -R "$(id -u):$(id -g)" "$out"
echo "$version" > "$out/VERSION"
sfdisk -d "$out/hearth-rpi4.img" | sed 's/^/    /'
echo
echo "Image: $out/hearth-rpi4.img ($(du -h --apparent-size "$out/hearth-rpi4.img" | cut -f1), $(du -h "$out/hearth-rpi4.img" | cut -f1) allocated)"
echo "Root filesystem for update bundles: $out/rootA.ext4"
phase_table
echo "Built in $(( $(date +%s) - t0 )) s"
