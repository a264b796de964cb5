#!/usr/bin/env bash
# Turns the Debian base (build.sh step 3) into the Hearth appliance root, in
# place. Runs on the build host (no emulation): systemd's --root tools.
#   layer.sh ROOT
set -euo pipefail
root=$1
[ -x "$root/usr/bin/hearth" ] || { echo "layer.sh: $root has no /usr/bin/hearth" >&2; exit 1; }

# Users and groups from sysusers.d (hearth, gpio, i2c).
systemd-sysusers --root="$root" >/dev/null
grep -q '^hearth:' "$root/etc/passwd" || { echo "layer.sh: no hearth user" >&2; exit 1; }

# Mutable files live on the data partition; the root stays read-only.
install -d -m 0755 "$root/usr/share/hearth/factory" "$root/data" "$root/boot/firmware"
if [ ! -L "$root/etc/shadow" ]; then
  mv "$root/etc/shadow" "$root/usr/share/hearth/factory/shadow"
  ln -s /data/etc/shadow "$root/etc/shadow"
fi
rm -rf "$root/etc/wpa_supplicant"
ln -s /data/etc/wpa_supplicant "$root/etc/wpa_supplicant"
# An empty machine-id on a read-only root: systemd uses a transient one.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# The initramfs and kernel live in the boot partition's slot directories.
ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"

# Debian's arm64 kernel carries modules for every arm64 server and PC
# card; drop the big families a Pi 4 (or qemu's virt board) never has, and
# what a heater does not use (sound, Bluetooth: its UART is the chain's),
# so each root slot and update bundle is ~230 MB smaller, then re-index.
for kdir in "$root"/lib/modules/*/kernel; do
  for m in drivers/gpu/drm/amd drivers/gpu/drm/nouveau drivers/gpu/drm/radeon drivers/infiniband \
           drivers/media drivers/net/ethernet/mellanox drivers/net/ethernet/intel drivers/net/ethernet/chelsio \
           drivers/net/ethernet/qlogic drivers/net/ethernet/marvell drivers/net/ethernet/cavium \
           drivers/net/ethernet/hisilicon drivers/net/ethernet/huawei drivers/net/ethernet/netronome \
           drivers/net/ethernet/sfc drivers/net/ethernet/amazon drivers/net/ethernet/broadcom/bnx2x \
           drivers/net/ethernet/broadcom/bnxt drivers/net/wireless/ath drivers/net/wireless/intel \
           drivers/net/wireless/mediatek drivers/net/wireless/realtek drivers/net/wireless/marvell \
           drivers/net/wireless/ti drivers/scsi/lpfc drivers/scsi/qla2xxx drivers/scsi/mpt3sas \
           drivers/scsi/megaraid drivers/scsi/smartpqi drivers/scsi/hisi_sas drivers/scsi/aacraid \
           fs/xfs fs/btrfs fs/ocfs2 fs/gfs2 fs/ceph fs/nfsd \
           sound drivers/iio drivers/staging drivers/md drivers/ata drivers/isdn \
           drivers/bluetooth net/bluetooth; do
    rm -rf "${kdir:?}/$m"
  done
  kver=$(basename "$(dirname "$kdir")")
  depmod -b "$root" "$kver"
  echo "    kernel modules: $(du -sh "$(dirname "$kdir")" | cut -f1) after pruning"
done

# mosquitto (HEARTH_WITH_MOSQUITTO=1): state and passwords on DATA; add
# users with `mosquitto_passwd /data/etc/mosquitto/passwd NAME`.
if [ -x "$root/usr/sbin/mosquitto" ]; then
  cat > "$root/usr/lib/tmpfiles.d/hearth-mosquitto.conf" <<'TMPF'
d /data/mosquitto          0750 mosquitto mosquitto -
d /data/etc/mosquitto      0750 root      mosquitto -
f /data/etc/mosquitto/passwd 0640 root    mosquitto -
TMPF
else
  rm -rf "$root/etc/mosquitto"
fi

enable=(hearth.service hearth-setup.service hearth-hotspot.service hearth-update-confirm.service hearth-trial-guard.service
  hearth-selftest.service systemd-networkd.service systemd-resolved.service
  systemd-timesyncd.service avahi-daemon.service)
systemctl --root="$root" enable "${enable[@]}" >/dev/null 2>&1
# Nothing waits for the network (heat first); no package maintenance.
mask=(systemd-networkd-wait-online.service e2scrub_reap.service e2scrub_all.timer
  fstrim.timer apt-daily.timer apt-daily-upgrade.timer hostapd.service
  wpa_supplicant.service systemd-rfkill.service systemd-rfkill.socket)
systemctl --root="$root" mask "${mask[@]}" >/dev/null 2>&1
for u in "${enable[@]}"; do
  systemctl --root="$root" is-enabled "$u" >/dev/null || { echo "layer.sh: $u not enabled" >&2; exit 1; }
done
echo "    users: $(grep '^hearth:' "$root/etc/passwd" | cut -d: -f1,3,4), groups: $(grep -E '^(dialout|i2c|gpio):' "$root/etc/group" | cut -d: -f1,4 | tr '\n' ' ')"
