#!/usr/bin/env bash
# Plays the Raspberry Pi firmware's part for qemu -M virt, which has none:
# reads config.txt from the image's boot partition, picks the slot the way
# the firmware does (os_prefix under [all]; under [tryboot] for one boot when
# a trial was requested, here by the flag file hearth-update leaves on a
# non-Pi), consumes the one-shot request, and extracts that slot's kernel,
# initramfs and cmdline.txt.
#   firmware-emu.sh IMAGE OUTDIR   -> OUTDIR/{vmlinuz,initrd.img,cmdline.txt,slot}
set -euo pipefail
img=$1 outdir=$2
start=$(sfdisk -d "$img" | awk -F'[=,]' '/^[^ ]*1 :/{gsub(/ /,"",$2); print $2}')
[ -n "$start" ] || { echo "firmware-emu: no partition 1 in $img" >&2; exit 1; }
fat="$img@@$((start * 512))"
mkdir -p "$outdir"
mtype -i "$fat" ::config.txt > "$outdir/config.txt"
section_prefix() { awk -v want="$1" '/^\[/{s=$0} s==want && /^os_prefix=/{sub(/^os_prefix=/,""); sub(/\/$/,""); print; exit}' "$outdir/config.txt"; }
slot=$(section_prefix '[all]')
if mdir -i "$fat" ::tryboot.flag >/dev/null 2>&1; then
  slot=$(section_prefix '[tryboot]')
  mdel -i "$fat" ::tryboot.flag
  echo "firmware-emu: one-shot trial boot of slot $slot (flag consumed)"
else
  echo "firmware-emu: normal boot of committed slot $slot"
fi
case "$slot" in a|b) ;; *) echo "firmware-emu: no valid os_prefix in config.txt" >&2; exit 1 ;; esac
for f in vmlinuz initrd.img cmdline.txt; do
  mcopy -o -i "$fat" "::$slot/$f" "$outdir/$f"
done
echo "$slot" > "$outdir/slot"
