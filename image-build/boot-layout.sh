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
# Hearth's buses (UART0 on GPIO 14/15 with Bluetooth off, I2C1, 1-wire on
# GPIO 4, PWM on GPIO 18/19) go into the Pi 4 family's trees themselves:
# Debian's trees take no Raspberry Pi overlays (dt/hearth-buses.dtsi says why).
"$(dirname "$0")/dt/merge.sh" "$fw/a/"bcm2711-*.dtb
echo "    device trees with Hearth's buses: $(cd "$fw/a" && ls bcm2711-*.dtb | tr '\n' ' ')"
# (No serial console: GPIO 14/15 carry the hashboard chain, and console
# text or a login prompt on them would reach the chips.)
[ -d "$fw/overlays" ] && cp -r "$fw/overlays" "$fw/a/overlays"
echo "console=tty1 root=PARTUUID=$disk-02 rootfstype=ext4 rootflags=noatime ro rootwait fsck.repair=yes panic=10 hearth.slot=a" > "$fw/a/cmdline.txt"
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
#hearth_password=the-page-and-API-owner-password
#root_password=choose-a-good-one
#wifi_country=GB
#wifi_ssid=MyNetwork
#wifi_psk=my-wifi-password
SETUP
# The root keeps no second copy of the kernel and initramfs, nor of the
# device trees and firmware files just copied to BOOT (~50 MB less to write
# per update; nothing reads them at run time on a read-only root).
rm -f "$root"/boot/vmlinuz-* "$root"/boot/initrd.img-* "$root"/boot/System.map-*
rm -rf "$root"/usr/lib/linux-image-* "$root"/usr/lib/raspi-firmware
echo "    kernel $kver, slots a/ b/: $(ls "$fw/a" | tr '\n' ' ')"
