#!/usr/bin/env bash
# Makes a signed Hearth update bundle for `hearth-update install`.
#
#   image-build/bundle.sh --key KEY.pem --rootfs rootA.ext4 --boot-dir DIR \
#                         --version V --out hearth-V.hup
#
# --rootfs is a root filesystem image (build.sh leaves target/image/rootA.ext4);
# --boot-dir holds the slot's boot files (vmlinuz, initrd.img, *.dtb,
# overlays/); cmdline.txt is written by the device for its own slot.
set -euo pipefail
key= rootfs= bootdir= version= out=
while [ $# -gt 0 ]; do
  case "$1" in
    --key) key=$2; shift 2 ;;
    --rootfs) rootfs=$2; shift 2 ;;
    --boot-dir) bootdir=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for v in key rootfs bootdir version out; do
  [ -n "${!v}" ] || { echo "bundle.sh: --${v/bootdir/boot-dir} is required" >&2; exit 2; }
done
[ -f "$rootfs" ] || { echo "bundle.sh: no root image $rootfs" >&2; exit 1; }
[ -e "$bootdir/vmlinuz" ] || { echo "bundle.sh: $bootdir has no vmlinuz" >&2; exit 1; }
case "$version" in *[!A-Za-z0-9._+-]*) echo "bundle.sh: version may hold only A-Z a-z 0-9 . _ + -" >&2; exit 2 ;; esac
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# Shrink a copy of the file system to its contents: less to download,
# decompress, write and hash on the Pi; the slot's partition keeps its size.
cp --sparse=always "$rootfs" "$work/rootfs.ext4"
rootfs="$work/rootfs.ext4"
if e2fsck -fy "$rootfs" >/dev/null 2>&1 && resize2fs -M "$rootfs" >/dev/null 2>&1; then :; else
  echo "bundle.sh: $rootfs is not an ext4 image it can shrink; bundling it as is" >&2
fi
echo "bundle: compressing $(du -h --apparent-size "$rootfs" | cut -f1) root image"
gzip -1 -c "$rootfs" > "$work/rootfs.ext4.gz"
tar -C "$bootdir" --exclude=cmdline.txt --owner=0 --group=0 -cf "$work/boot.tar" .
cat > "$work/manifest" <<MANIFEST
format=hearth-bundle-1
compatible=hearth-rpi4
version=$version
rootfs_size=$(stat -c %s "$rootfs")
rootfs_sha256=$(sha256sum < "$work/rootfs.ext4.gz" | cut -d' ' -f1)
boot_sha256=$(sha256sum < "$work/boot.tar" | cut -d' ' -f1)
MANIFEST
openssl pkeyutl -sign -inkey "$key" -rawin -in "$work/manifest" -out "$work/manifest.sig"
tar -C "$work" --owner=0 --group=0 -cf "$out" manifest manifest.sig boot.tar rootfs.ext4.gz
echo "bundle: $out ($(du -h "$out" | cut -f1)), version $version"
