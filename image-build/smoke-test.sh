#!/usr/bin/env bash
# Smoke test of the Raspberry Pi image, run by scripts/test.sh:
#   1. builds the image (build.sh; cached base, so reruns are fast) with a
#      test-only data partition: a --sim configuration, HTTP on port 80
#   2. checks the partition layout and the boot partition's contents
#   3. boots it under qemu-system-aarch64 -M virt (firmware-emu.sh plays the
#      Pi firmware's slot choice) and checks, through a forwarded port, that
#      Hearth answers /health and serves the simulated room; and, from the
#      image's own self-test report on the serial console, that the root is
#      read-only, the data partition is mounted, the journal is in RAM and
#      hearth.service is Type=notify with a watchdog.
# What it cannot check here: the Pi's firmware, GPU boot, device tree
# overlays and buses (qemu -M virt is not a Pi); see docs/install.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=${HEARTH_SMOKE_OUT:-$repo/target/image-test}
port=${HEARTH_SMOKE_PORT:-18080}
boot_timeout=${HEARTH_SMOKE_BOOT_TIMEOUT_S:-420}
t0=$(date +%s)
fails=0
pass() { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; fails=$((fails + 1)); }
elapsed() { echo "$(( $(date +%s) - t0 ))s"; }

seed=$(mktemp -d); qemu_pid=
cleanup() { [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true; rm -rf "$seed"; }
trap cleanup EXIT
mkdir -p "$seed/etc/hearth"
cat > "$seed/etc/hearth/hearth.toml" <<'TOML'
# Test-only: the smoke test's simulated room, served on all interfaces.
[daemon]
http = "0.0.0.0:80"

[[zone]]
id = "living-room"
name = "Living room"
kind = "room"
setpoint_c = 21.0

[[hashboard]]
id = "board-0"
zone = "living-room"
profile = "generic-bm1370-65"
TOML
echo 'HEARTH_ARGS=--sim' > "$seed/etc/hearth/hearth.env"
: > "$seed/etc/hearth/selftest"

echo "==> building the test image"
HEARTH_IMAGE_OUT="$out" HEARTH_IMAGE_DATA_SEED="$seed" "$here/build.sh"
img="$out/hearth-rpi4.img"
echo "==> image built at $(elapsed)"

echo "==> partition layout"
layout=$(sfdisk -d "$img")
echo "$layout" | sed 's/^/    /'
parts=$(echo "$layout" | grep -c '^/' || true)
[ "$parts" = 4 ] && pass "four partitions" || fail "$parts partitions, expected 4"
echo "$layout" | grep -q '^label-id: 0x4ea27a00' && pass "disk id 4ea27a00 (root=PARTUUID)" || fail "unexpected disk id"
echo "$layout" | grep -E '1 : .*type=c, bootable' >/dev/null && pass "p1 FAT32 LBA, bootable" || fail "p1 is not a bootable FAT partition"
for n in 2 3 4; do echo "$layout" | grep -E "$n : .*type=83" >/dev/null && pass "p$n Linux" || fail "p$n is not type 83"; done
for n in 1 2 3 4; do
  s=$(echo "$layout" | awk -F'[=,]' "/^[^ ]*$n :/{gsub(/ /,\"\",\$2); print \$2}")
  [ $(( s % 8192 )) = 0 ] && pass "p$n starts 4 MiB aligned" || fail "p$n starts at sector $s"
done
boot_start=$(echo "$layout" | awk -F'[=,]' '/^[^ ]*1 :/{gsub(/ /,"",$2); print $2}')
fat="$img@@$((boot_start * 512))"
for f in start4.elf fixup4.dat config.txt a/vmlinuz a/initrd.img a/cmdline.txt a/bcm2711-rpi-4-b.dtb b/vmlinuz b/cmdline.txt; do
  mdir -i "$fat" "::$f" >/dev/null 2>&1 && pass "boot has $f" || fail "boot lacks $f"
done
cfg=$(mtype -i "$fat" ::config.txt)
for want in 'arm_64bit=1' 'enable_uart=1' 'dtparam=i2c_arm=on' 'dtoverlay=w1-gpio' 'dtoverlay=pwm-2chan' 'os_prefix=a/' '\[tryboot\]'; do
  grep -q "^$want" <<<"$cfg" && pass "config.txt: $want" || fail "config.txt lacks $want"
done
grep -q 'root=PARTUUID=4ea27a00-02 .* ro ' <(mtype -i "$fat" ::a/cmdline.txt) && pass "slot a: root=PARTUUID=...-02, ro" || fail "slot a cmdline: $(mtype -i "$fat" ::a/cmdline.txt)"
grep -q 'root=PARTUUID=4ea27a00-03 ' <(mtype -i "$fat" ::b/cmdline.txt) && pass "slot b: root=PARTUUID=...-03" || fail "slot b cmdline"

echo "==> booting under qemu-system-aarch64 -M virt"
fw="$out/fw"; rm -rf "$fw"
run="$out/run.img"
cp --sparse=always "$img" "$run"
"$here/firmware-emu.sh" "$run" "$fw"
serial="$out/serial.log"; : > "$serial"
qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 -nographic -no-reboot \
  -kernel "$fw/vmlinuz" -initrd "$fw/initrd.img" \
  -append "$(cat "$fw/cmdline.txt") console=ttyAMA0" \
  -drive if=none,file="$run",format=raw,id=hd0 -device virtio-blk-pci,drive=hd0 \
  -netdev user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:80 -device virtio-net-pci,netdev=n0 \
  > "$serial" 2>&1 < /dev/null &
qemu_pid=$!
health=
deadline=$(( $(date +%s) + boot_timeout ))
while [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$qemu_pid" 2>/dev/null; do
  if health=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/health" 2>/dev/null); then break; fi
  health=; sleep 3
done
if [ -n "$health" ]; then pass "/health answers through the forwarded port at $(elapsed): $health"; else fail "/health did not answer within ${boot_timeout}s"; fi
status=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/api/v1/status" 2>/dev/null || true)
python3 - "$status" <<'PY' && pass "status: simulated living room with a temperature and board-0" || fail "status is not the simulated room: ${status:0:300}"
import json, sys
s = json.loads(sys.argv[1])
z = {z["id"]: z for z in s["zones"]}
assert s["simulated"] is True
assert "living-room" in z and isinstance(z["living-room"]["temperature_c"], float)
assert any(b["id"] == "board-0" for b in s["boards"])
PY
deadline=$(( $(date +%s) + 180 ))
while [ "$(date +%s)" -lt "$deadline" ] && ! grep -q 'HEARTH-SELFTEST done' "$serial"; do sleep 2; done
report=$(grep -a 'HEARTH-SELFTEST' "$serial" | tr -d '\r' || true)
echo "$report" | sed 's/^/    /'
fact() { echo "$report" | sed -n "s/^.*HEARTH-SELFTEST $1=//p" | head -n1; }
[[ ",$(fact root_options)," == *,ro,* ]] && pass "root mounted read-only ($(fact root_options | cut -c1-40))" || fail "root options: $(fact root_options)"
[ "$(fact root_write)" = denied ] && pass "writing to / is refused" || fail "root is writable"
[[ "$(fact data)" == /dev/vda4,ext4,rw,noatime* ]] && pass "DATA (p4) on /data, rw, noatime" || fail "data: $(fact data)"
[[ "$(fact boot)" == /dev/vda1,vfat,ro* ]] && pass "BOOT (p1) on /boot/firmware, read-only" || fail "boot: $(fact boot)"
[[ "$(fact journal)" == /run/log/journal/* ]] && pass "journal in RAM" || fail "journal: $(fact journal)"
[ "$(fact slot)" = a ] && pass "booted slot a" || fail "slot: $(fact slot)"
[[ ",$(fact hearth_groups)," == *,dialout,*i2c*gpio* || ",$(fact hearth_groups)," == *dialout*gpio*i2c* ]] && pass "hearth user in dialout, i2c, gpio" || fail "hearth groups: $(fact hearth_groups)"
[ "$(fact hearth_state)" = active ] && pass "hearth.service active" || fail "hearth.service: $(fact hearth_state)"
[ "$(fact hearth_type)" = "notify,watchdog_usec=30s" ] && pass "Type=notify, WatchdogSec=30" || fail "unit: $(fact hearth_type)"
[ "$(fact avahi)" = active ] && pass "avahi-daemon active" || fail "avahi: $(fact avahi)"
echo "==> smoke test finished in $(elapsed) (serial log: $serial)"
if [ "$fails" -gt 0 ]; then
  echo "---- last 60 lines of the serial console"; tail -n 60 "$serial"
  echo "image smoke test: $fails check(s) failed"; exit 1
fi
echo "image smoke test: all checks passed"
