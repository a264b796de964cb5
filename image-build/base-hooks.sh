#!/usr/bin/env bash
# mmdebstrap hooks for Hearth's base root. Part of the base cache key: any
# change here rebuilds the base (build.sh step 3).
#   base-hooks.sh essential ROOT   before the packages are installed
#   base-hooks.sh customize ROOT   after
set -euo pipefail
root=$2
case "$1" in
essential)
  # MODULES=most makes every initramfs build take ~8 minutes under
  # emulation; list what finding the root needs on a Pi 4 (SD card, USB)
  # and under qemu -M virt (virtio).
  mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/boot/firmware"
  echo 'MODULES=list' > "$root/etc/initramfs-tools/conf.d/hearth.conf"
  cat > "$root/etc/initramfs-tools/modules" <<'MODS'
ext4
vfat
nls_cp437
nls_ascii
mmc_block
sdhci_iproc
sdhci_pltfm
bcm2835_mmc
usb_storage
uas
xhci_pci
xhci_plat_hcd
pcie_brcmstb
reset_raspberrypi
virtio_pci
virtio_blk
MODS
  # (Debian's raspi-firmware writes cmdline.txt from /etc/default; that
  # file is a conffile, so it is not pre-seeded here: a conffile prompt
  # would stop the install. boot-layout.sh writes each slot's cmdline.txt.)
  ;;
customize)
  # The appliance never runs apt: drop the package lists and caches.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  ;;
*) echo "usage: $0 essential|customize ROOT" >&2; exit 2 ;;
esac
