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
  # Debian's raspi-firmware writes cmdline.txt from this; the boot layout
  # step replaces it per slot anyway.
  mkdir -p "$root/etc/default"
  printf 'ROOTPART=LABEL=rootA\nCONSOLES="serial0,115200 tty1"\n' > "$root/etc/default/raspi-firmware"
  ;;
customize)
  # The appliance never runs apt: drop the package lists and caches.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  ;;
*) echo "usage: $0 essential|customize ROOT" >&2; exit 2 ;;
esac
