#!/usr/bin/env bash
# Lays out the boot partition ($ROOT/boot/firmware) for A/B slots:
#   firmware files at the top (start4.elf, fixup4.dat, ...), config.txt
#   from the Hearth template (committed slot a, trial slot b), usercfg.txt;
#   a/ and b/ each with vmlinuz, initrd.img, device trees, overlays and the
#   slot's cmdline.txt (root=PARTUUID=<disk>-02 for a, -03 for b).
#   boot-layout.sh ROOT DISK_ID
set -euo pipefail
root=$1
disk=$2
fw="$root/boot/firmware"
kernel=$(ls "$root"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)
initrd=$(ls "$root"/boot/initrd.img-* 2>/dev/null | sort -V | tail -n1)
[ -n "$kernel" ] && [ -n "$initrd" ] || { echo "boot-layout.sh: no kernel/initramfs in $root/boot" >&2; exit 1; }
[ -e "$fw/start4.elf" ] || { echo "boot-layout.sh: raspi-firmware did not fill $fw" >&2; exit 1; }
kver=${kernel##*/vmlinuz-}

rm -rf "$fw/a" "$fw/b"
mkdir -p "$fw/a"
cp "$kernel" "$fw/a/vmlinuz"
cp "$initrd" "$fw/a/initrd.img"
# Device trees: the Pi 4 family's from the kernel package (Debian's upstream
# kernel 6.1 has none for the Pi 5).
dtbdir="$root/usr/lib/linux-image-$kver/broadcom"
if [ -d "$dtbdir" ]; then cp "$dtbdir"/bcm2711-*.dtb "$dtbdir"/bcm2712-*.dtb "$fw/a/" 2>/dev/null || true; fi
cp "$fw"/bcm27*.dtb "$fw/a/" 2>/dev/null || true
ls "$fw/a/"bcm2711-rpi-4-b.dtb >/dev/null
[ -d "$fw/overlays" ] && cp -r "$fw/overlays" "$fw/a/overlays"
echo "console=serial0,115200 console=tty1 root=PARTUUID=$disk-02 rootfstype=ext4 rootflags=noatime ro rootwait fsck.repair=yes panic=10 hearth.slot=a" > "$fw/a/cmdline.txt"
# Slot b starts as a copy (its root is empty until the first update: a
# trial boot of it panics and the firmware falls back to a).
cp -a "$fw/a" "$fw/b"
sed -i -e "s/PARTUUID=$disk-02/PARTUUID=$disk-03/" -e 's/hearth.slot=a/hearth.slot=b/' "$fw/b/cmdline.txt"
# Debian's generated kernel/initrd copies and config are replaced by ours.
rm -f "$fw"/vmlinuz* "$fw"/initrd.img* "$fw"/bcm27*.dtb "$fw/cmdline.txt"
rm -rf "$fw/overlays"
sed -e 's/@COMMITTED@/a/g' -e 's/@OTHER@/b/g' "$root/usr/share/hearth/config.txt.in" > "$fw/config.txt"
echo "# Your own config.txt additions (kept across updates)." > "$fw/usercfg.txt"
cat > "$fw/hearth-setup.txt.example" <<'SETUP'
# Copy this file to hearth-setup.txt (same folder) and fill in what you
# need; Hearth applies it at the next boot and then deletes it.
#hostname=hearth
#root_password=choose-a-good-one
#wifi_country=GB
#wifi_ssid=MyNetwork
#wifi_psk=my-wifi-password
SETUP
# The root keeps no second copy of the kernel and initramfs.
rm -f "$root"/boot/vmlinuz-* "$root"/boot/initrd.img-* "$root"/boot/System.map-*
echo "    kernel $kver, slots a/ b/: $(ls "$fw/a" | tr '\n' ' ')"
