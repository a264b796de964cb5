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
#   4. with HEARTH_SMOKE_AB=1 (the default when run by hand; scripts/test.sh
#      sets 0): the A/B update inside the VM, over three more boots: refuse
#      a bundle signed by an untrusted key with nothing written, install a
#      signed bundle into slot b, trial boot, commit after /health; then a
#      bundle whose hearth cannot start, trial boot of a, rollback to b
#      (~33 minutes on a loaded 2-core machine).
#   5. unless HEARTH_SMOKE_WIFI=0: two boots with no Ethernet, over
#      mac80211_hwsim's simulated radios: the setup hotspot opens by itself,
#      a "phone" joins it and posts the form; then the Pi joins the home
#      network it named and answers /health over Wi-Fi (~3.5 minutes).
#   Each phase's wall time is printed at the end.
# What it cannot check here: the Pi's firmware, GPU boot, device tree
# overlays and buses, its Wi-Fi chip (qemu -M virt is not a Pi); see
# docs/install.md.
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
# Wall time of each phase, printed at the end (CI time budget).
timings=() mark=$t0
phase_done() { local now; now=$(date +%s); timings+=("$(printf '%5ss  %s' "$(( now - mark ))" "$1")"); mark=$now; }

seed=$(mktemp -d); qemu_pid=
cleanup() { [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null || true; rm -rf "$seed"; }
trap cleanup EXIT
mkdir -p "$seed/etc/hearth"
cat > "$seed/etc/hearth/hearth.toml" <<'TOML'
# Test-only: the smoke test's simulated room, served on all interfaces.
[daemon]
http = "0.0.0.0:80"

# The test reads the status without logging in; writes still need the owner.
# The owner's password comes from hearth_password= in hearth-setup.txt, as
# on the shipped image.
[web]
public_read = true
owner_password_file = "/data/hearth/owner-password"

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
# The self-test marker; the A/B phase attaches a bundle as /dev/vdb.
# wifi_test names the simulated radio that plays the owner's side in the
# Wi-Fi boots (selftest-wifi).
printf 'install=/dev/vdb\nrefuse=/dev/vdc\nwifi_test=wlan1\n' > "$seed/etc/hearth/selftest"
# A failed trial should roll back within a minute, not the default three.
echo 'HEARTH_UPDATE_HEALTH_TIMEOUT_S=60' > "$seed/etc/hearth/update.env"

echo "==> building the test image"
HEARTH_IMAGE_OUT="$out" HEARTH_IMAGE_DATA_SEED="$seed" "$here/build.sh"
img="$out/hearth-rpi4.img"
echo "==> image built at $(elapsed)"
phase_done "image build (build.sh)"

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
for want in 'arm_64bit=1' 'enable_uart=1' 'os_prefix=a/' '\[tryboot\]'; do
  grep -q "^$want" <<<"$cfg" && pass "config.txt: $want" || fail "config.txt lacks $want"
done
# The buses live in the slots' device trees (dt/hearth-buses.dtsi); a
# dtoverlay= line would silently do nothing with Debian's trees.
grep -Eq '^(dtoverlay|dtparam)=' <<<"$cfg" && fail "config.txt has dtoverlay/dtparam lines Debian's trees cannot take" || pass "config.txt: no dtoverlay/dtparam lines"
dtdir=$(mktemp -d)
for slot in a b; do
  for dtb in bcm2711-rpi-4-b.dtb bcm2711-rpi-400.dtb bcm2711-rpi-cm4-io.dtb; do
    if mcopy -o -i "$fat" "::$slot/$dtb" "$dtdir/$dtb" 2>/dev/null && "$here/dt/check.sh" "$dtdir/$dtb" > "$dtdir/check.log"; then
      pass "$slot/$dtb: UART0 on GPIO 14/15 with Bluetooth off, I2C1 100 kHz, 1-wire GPIO 4, PWM GPIO 18/19"
    else fail "$slot/$dtb: $(grep -v '^  ok' "$dtdir/check.log" 2>/dev/null | head -n3 | tr '\n' ' ')"; fi
  done
done
rm -rf "$dtdir"
grep -q 'root=PARTUUID=4ea27a00-02 .* ro ' <(mtype -i "$fat" ::a/cmdline.txt) && pass "slot a: root=PARTUUID=...-02, ro" || fail "slot a cmdline: $(mtype -i "$fat" ::a/cmdline.txt)"
grep -q 'root=PARTUUID=4ea27a00-03 ' <(mtype -i "$fat" ::b/cmdline.txt) && pass "slot b: root=PARTUUID=...-03" || fail "slot b cmdline"
grep -q 'console=serial0' <(mtype -i "$fat" ::a/cmdline.txt) && fail "slot a puts a console on the chain's UART" || pass "no console on the chain's UART (GPIO 14/15)"

# Boots $run the way the Pi firmware would pick the slot; extra qemu
# arguments (a second disk) may follow. Sets qemu_pid; serial output to $1.
# vm_net is the network hardware (Ethernet with a forwarded port unless a
# phase says otherwise); vm_append is added to the slot's kernel command line.
vm_net=(-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:80" -device virtio-net-pci,netdev=n0,romfile=)
vm_append=
boot_vm() {
  local log=$1; shift
  rm -rf "$fw"
  "$here/firmware-emu.sh" "$run" "$fw"
  : > "$log"
  qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 -nographic -no-reboot \
    -kernel "$fw/vmlinuz" -initrd "$fw/initrd.img" \
    -append "$(cat "$fw/cmdline.txt") console=ttyAMA0${vm_append:+ $vm_append}" \
    -drive if=none,file="$run",format=raw,id=hd0 -device virtio-blk-pci,drive=hd0 \
    "${vm_net[@]}" "$@" > "$log" 2>&1 < /dev/null &
  qemu_pid=$!
}
stop_vm() { [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null; wait "$qemu_pid" 2>/dev/null || true; qemu_pid=; }
wait_serial() { # pattern log timeout_s
  local deadline=$(( $(date +%s) + $3 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    grep -aq "$1" "$2" && return 0
    kill -0 "$qemu_pid" 2>/dev/null || { grep -aq "$1" "$2"; return; }
    sleep 2
  done
  return 1
}
wait_exit() { # timeout_s: the VM rebooting ends qemu (-no-reboot)
  local deadline=$(( $(date +%s) + $1 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do kill -0 "$qemu_pid" 2>/dev/null || { qemu_pid=; return 0; }; sleep 2; done
  return 1
}

ab=${HEARTH_SMOKE_AB:-1}
key="${HEARTH_IMAGE_CACHE:-$repo/target/image-cache}/keys/update-signing.pem"
bundle_disk() { echo -drive "if=none,file=$1,format=raw,id=${2:-hd1},readonly=on" -device "virtio-blk-pci,drive=${2:-hd1}"; }
boot1_extra=()
if [ "$ab" = 1 ]; then
  echo "==> update bundles for the A/B phase"
  # A good bundle of this very image, and one whose hearth exits at once
  # (Type=notify never gets READY, /health never answers).
  "$here/bundle.sh" --key "$key" --rootfs "$out/rootA.ext4" --boot-dir "$out/boot-a" --version smoke-good --out "$out/smoke-good.hup"
  cp --sparse=always "$out/rootA.ext4" "$out/broken.ext4"
  printf '#!/bin/sh\necho "broken hearth for the rollback test" >&2\nexit 1\n' > "$out/broken-hearth"
  printf 'rm /usr/bin/hearth\nwrite %s /usr/bin/hearth\nsif /usr/bin/hearth mode 0100755\n' "$out/broken-hearth" > "$out/debugfs.cmds"
  debugfs -w -f "$out/debugfs.cmds" "$out/broken.ext4" >/dev/null 2>&1
  [ "$(debugfs -R 'cat /usr/bin/hearth' "$out/broken.ext4" 2>/dev/null | head -c 9)" = '#!/bin/sh' ] || { echo "could not make the broken root"; exit 1; }
  "$here/bundle.sh" --key "$key" --rootfs "$out/broken.ext4" --boot-dir "$out/boot-a" --version smoke-broken --out "$out/smoke-broken.hup"
  rm -f "$out/broken.ext4"
  # The good bundle signed by a key the image does not trust.
  [ -s "$out/stranger.pem" ] || openssl genpkey -algorithm ed25519 -out "$out/stranger.pem" 2>/dev/null
  "$here/bundle.sh" --key "$out/stranger.pem" --rootfs "$out/rootA.ext4" --boot-dir "$out/boot-a" --version smoke-stranger --out "$out/smoke-stranger.hup"
  read -r -a boot1_extra <<<"$(bundle_disk "$out/smoke-good.hup" hd1) $(bundle_disk "$out/smoke-stranger.hup" hd2)"
  phase_done "three update bundles (bundle.sh)"
fi

echo "==> boot 1 under qemu-system-aarch64 -M virt (at $(elapsed))"
fw="$out/fw"
run="$out/run.img"
cp --sparse=always "$img" "$run"
# First-boot setup as an owner does it: hearth-setup.txt on the FAT partition.
owner_pw=smoke-test-owner-password
printf 'hearth_password=%s\nhostname=hearth\n' "$owner_pw" > "$out/hearth-setup.txt"
mcopy -o -i "$run@@$((boot_start * 512))" "$out/hearth-setup.txt" ::hearth-setup.txt
serial="$out/serial.log"
boot_vm "$serial" "${boot1_extra[@]}"
health=
deadline=$(( $(date +%s) + boot_timeout ))
while [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$qemu_pid" 2>/dev/null; do
  if health=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/health" 2>/dev/null); then break; fi
  health=; sleep 3
done
if [ -n "$health" ]; then pass "/health answers through the forwarded port at $(elapsed): $health"; else fail "/health did not answer within ${boot_timeout}s"; fi
status=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/api/v1/status" 2>/dev/null || true)
if python3 - "$status" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
z = {z["id"]: z for z in s["zones"]}
assert s["simulated"] is True
assert "living-room" in z and isinstance(z["living-room"]["temperature_c"], float)
assert any(b["id"] == "board-0" for b in s["boards"])
PY
then pass "status: simulated living room with a temperature and board-0"; else fail "status is not the simulated room: ${status:0:300}"; fi
login=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  -d "{\"password\": \"$owner_pw\"}" "http://127.0.0.1:$port/api/v1/auth/login" 2>/dev/null || true)
[ "$login" = 200 ] && pass "the owner logs in with hearth_password from hearth-setup.txt" || fail "login with hearth_password: HTTP $login"
claim=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"password": "someone else entirely"}' "http://127.0.0.1:$port/api/v1/auth/setup" 2>/dev/null || true)
[ "$claim" = 409 ] && pass "nobody else can claim the appliance (setup: 409)" || fail "setup after hearth_password: HTTP $claim"
wait_serial 'HEARTH-SELFTEST done' "$serial" 300 || true
report=$(grep -a 'HEARTH-SELFTEST' "$serial" | tr -d '\r' || true)
echo "$report" | sed 's/^.*HEARTH-SELFTEST/    HEARTH-SELFTEST/'
fact() { echo "$report" | sed -n "s/^.*HEARTH-SELFTEST $1=//p" | head -n1; }
[[ ",$(fact root_options)," == *,ro,* ]] && pass "root mounted read-only ($(fact root_options))" || fail "root options: $(fact root_options)"
[[ ",$(fact root_options)," == *,noatime,* ]] && pass "root mounted noatime" || fail "root without noatime: $(fact root_options)"
[ "$(fact root_write)" = denied ] && pass "writing to / is refused" || fail "root is writable"
[[ "$(fact data)" == /dev/vda4,ext4,rw,*noatime* ]] && pass "DATA (p4) on /data, rw, noatime" || fail "data: $(fact data)"
[[ "$(fact boot)" == /dev/vda1,vfat,ro,* ]] && pass "BOOT (p1) on /boot/firmware, read-only" || fail "boot: $(fact boot)"
[[ "$(fact journal)" == /run/log/journal/* ]] && pass "journal in RAM" || fail "journal: $(fact journal)"
[ "$(fact slot)" = a ] && pass "booted slot a" || fail "slot: $(fact slot)"
[[ ",$(fact hearth_groups)," == *,dialout,* && ",$(fact hearth_groups)," == *,i2c,* && ",$(fact hearth_groups)," == *,gpio,* ]] && pass "hearth user in dialout, i2c, gpio" || fail "hearth groups: $(fact hearth_groups)"
[ "$(fact hearth_state)" = active ] && pass "hearth.service active" || fail "hearth.service: $(fact hearth_state)"
[ "$(fact hearth_type)" = "notify,watchdog_usec=30s" ] && pass "Type=notify, WatchdogSec=30" || fail "unit: $(fact hearth_type)"
[ "$(fact avahi)" = active ] && pass "avahi-daemon active" || fail "avahi: $(fact avahi)"
[ "$(fact setup_txt)" = absent ] && pass "hearth-setup.txt deleted once applied" || fail "hearth-setup.txt: $(fact setup_txt)"
[ "$(fact owner_password_file)" = absent ] && pass "the clear-text owner password deleted once hashed" || fail "owner-password file: $(fact owner_password_file)"
phase_done "boot 1 (slot a) to the self-test report"

# ---- A/B update under qemu. Boot 1 (slot a) installs the good bundle into
# slot b and reboots; boot 2 is the one-shot trial of b, commits it after
# the health check and installs the broken bundle into a; boot 3 is the
# trial of a, whose health check fails: it reboots; boot 4 is b again.
if [ "$ab" = 1 ]; then
  echo "==> A/B update (at $(elapsed))"
  run_start=$(sfdisk -d "$run" | awk -F'[=,]' '/^[^ ]*1 :/{gsub(/ /,"",$2); print $2}')
  fat_run="$run@@$((run_start * 512))"
  fatdir() { mdir -i "$fat_run" "::$1" >/dev/null 2>&1; }
  committed() { mtype -i "$fat_run" ::config.txt | awk '/^\[/{s=$0} s=="[all]" && /^os_prefix=/{print; exit}'; }

  if wait_exit 900 && grep -aq 'rebooting into slot b for a trial boot' "$serial"; then
    pass "slot a verified the signed bundle, wrote slot b, rebooted ($(elapsed))"
  else fail "install from slot a did not complete"; stop_vm; fi
  # Tried before the good bundle, in the same boot (see selftest).
  report=$(grep -a 'HEARTH-SELFTEST' "$serial" | tr -d '\r' || true)
  case "$(fact refuse)" in
    refused,untouched,*) pass "bundle signed by an untrusted key refused, nothing written ($(fact refuse | cut -d, -f3- | tr '_' ' '))" ;;
    *) fail "untrusted bundle: $(fact refuse)" ;;
  esac
  phase_done "boot 1: refuse the untrusted bundle, install the good one into b"
  fatdir tryboot.flag && pass "one-shot trial boot requested" || fail "no trial boot requested"
  [ "$(committed)" = "os_prefix=a/" ] && pass "a still committed before the trial" || fail "committed before the trial: $(committed)"

  read -r -a extra <<<"$(bundle_disk "$out/smoke-broken.hup")"
  boot_vm "$out/serial-2.log" "${extra[@]}"
  if wait_serial 'hearth-update: slot b committed' "$out/serial-2.log" 900; then
    pass "boot 2, trial of b: health check passed, b committed ($(elapsed))"
  else fail "b was not committed"; fi
  wait_serial 'HEARTH-SELFTEST done' "$out/serial-2.log" 300 || true
  grep -aq 'HEARTH-SELFTEST slot=b' "$out/serial-2.log" && pass "running from slot b" || fail "not running from slot b"
  curl -fsS --max-time 5 "http://127.0.0.1:$port/health" >/dev/null 2>&1 && pass "/health on slot b" || fail "/health on slot b"
  if wait_exit 900 && grep -aq 'rebooting into slot a for a trial boot' "$out/serial-2.log"; then
    pass "slot b wrote the broken bundle into slot a, rebooted ($(elapsed))"
  else fail "install from slot b did not complete"; stop_vm; fi
  [ "$(committed)" = "os_prefix=b/" ] && pass "config.txt commits b" || fail "committed after the trial: $(committed)"
  phase_done "boot 2: trial of b, commit, install the broken bundle into a"

  boot_vm "$out/serial-3.log"
  if wait_exit 900 && grep -aq 'health check failed; rolling back to slot b' "$out/serial-3.log"; then
    pass "boot 3, trial of a: health check failed, rebooted ($(elapsed))"
  else fail "the failed trial did not roll back"; stop_vm; fi
  fatdir tryboot.flag && fail "trial flag left behind" || pass "one-shot flag consumed"
  [ "$(committed)" = "os_prefix=b/" ] && pass "b still committed" || fail "committed: $(committed)"
  phase_done "boot 3: trial of a, health check fails, reboot"

  boot_vm "$out/serial-4.log"
  wait_serial 'HEARTH-SELFTEST done' "$out/serial-4.log" 900 || true
  grep -aq 'firmware-emu' "$out/serial-4.log" || true
  grep -aq 'HEARTH-SELFTEST slot=b' "$out/serial-4.log" && pass "boot 4: back on slot b" || fail "boot 4 is not on slot b"
  grep -aq 'HEARTH-SELFTEST update=.*rolled back from slot a' "$out/serial-4.log" && pass "rollback recorded on the device" || fail "rollback not recorded"
  curl -fsS --max-time 5 "http://127.0.0.1:$port/health" >/dev/null 2>&1 && pass "/health after the rollback" || fail "/health after the rollback"
  stop_vm
  phase_done "boot 4: back on b"
fi

# ---- The Wi-Fi setup hotspot, over the air. Two boots with no Ethernet
# at all; mac80211_hwsim's two simulated radios stand in for the Pi's
# brcmfmac chip (wlan0) and the owner's side (wlan1, which selftest-wifi
# moves into a network namespace of its own so its packets cross the
# simulated air). Boot W1: no credentials, so hearth-hotspot must open the
# setup network by itself; the "phone" joins it, gets a lease, posts the
# home network's name and password through the form, and the Pi reboots.
# Boot W2: wlan1 is now that home network (WPA2); the Pi must join it with
# what the form saved, answer /health over Wi-Fi, and keep the hotspot shut.
if [ "${HEARTH_SMOKE_WIFI:-1}" = 1 ]; then
  echo "==> Wi-Fi setup hotspot (at $(elapsed))"
  stop_vm
  vm_net=(-nic none)
  vm_append="modules-load=mac80211_hwsim"
  wfact() { grep -a "HEARTH-SELFTEST wifi_$1=" "$2" | tr -d '\r' | sed -n "s/^.*HEARTH-SELFTEST wifi_$1=//p" | head -n1; }
  w1="$out/serial-wifi-1.log"
  boot_vm "$w1"
  wait_serial 'HEARTH-SELFTEST wifi_hotspot_saved=' "$w1" 600 || true
  grep -a 'HEARTH-SELFTEST wifi_' "$w1" | tr -d '\r' | sed 's/^.*HEARTH-SELFTEST/    HEARTH-SELFTEST/'
  [ "$(wfact mode "$w1")" = setup ] && pass "W1: no Ethernet, no Wi-Fi credentials" || fail "W1 mode: $(wfact mode "$w1")"
  case "$(wfact hotspot "$w1")" in
    Hearth-Setup-*,open,named_after_wlan0) pass "W1: the hotspot opened by itself: $(wfact hotspot "$w1" | cut -d, -f1), open, seen over the air" ;;
    *) fail "W1: hotspot: $(wfact hotspot "$w1")" ;;
  esac
  [[ "$(wfact hotspot_lease "$w1")" =~ ^192\.168\.4\.([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 10 ] && [ "${BASH_REMATCH[1]}" -lt 50 ] \
    && pass "W1: the phone got a lease from the hotspot's pool ($(wfact hotspot_lease "$w1"))" || fail "W1: lease: $(wfact hotspot_lease "$w1")"
  [ "$(wfact hotspot_form "$w1")" = served ] && pass "W1: the setup form served at 192.168.4.1:8081" || fail "W1: form: $(wfact hotspot_form "$w1")"
  [[ "$(wfact hotspot_reply "$w1")" == Saved.* ]] && pass "W1: the form's post was saved" || fail "W1: post: $(wfact hotspot_reply "$w1")"
  [ "$(wfact hotspot_saved "$w1")" = written,hex_ssid,psk_key,country_DE,mode_600 ] \
    && pass "W1: saved the name as hex and the password only as its key (mode 600)" || fail "W1: saved: $(wfact hotspot_saved "$w1")"
  if wait_exit 120; then pass "W1: the Pi rebooted after saving"; else fail "W1: no reboot after saving"; stop_vm; fi
  phase_done "Wi-Fi boot 1: hotspot, phone, form"

  w2="$out/serial-wifi-2.log"
  boot_vm "$w2"
  wait_serial 'HEARTH-SELFTEST wifi_join_hotspot=' "$w2" 600 || true
  grep -a 'HEARTH-SELFTEST wifi_' "$w2" | tr -d '\r' | sed 's/^.*HEARTH-SELFTEST/    HEARTH-SELFTEST/'
  [ "$(wfact mode "$w2")" = join ] && pass "W2: credentials from the form present" || fail "W2 mode: $(wfact mode "$w2")"
  [[ "$(wfact join "$w2")" =~ ^192\.168\.77\.[0-9]+,COMPLETED,WPA2-PSK$ ]] \
    && pass "W2: joined the home network (WPA2) and got an address: $(wfact join "$w2" | cut -d, -f1)" || fail "W2: join: $(wfact join "$w2")"
  [[ "$(wfact join_health "$w2")" == ok,* ]] && pass "W2: Hearth answers /health over Wi-Fi" || fail "W2: /health over Wi-Fi: $(wfact join_health "$w2")"
  [ "$(wfact join_hotspot "$w2")" = closed ] && pass "W2: the setup hotspot stays shut" || fail "W2: hotspot: $(wfact join_hotspot "$w2")"
  stop_vm
  phase_done "Wi-Fi boot 2: join the home network"
fi

echo "==> phase timings"
printf '    %s\n' "${timings[@]}"
echo "==> smoke test finished in $(elapsed) (serial logs: $out/serial*.log)"
if [ "$fails" -gt 0 ]; then
  for log in "$out"/serial*.log; do echo "---- last 30 lines of $log"; tail -n 30 "$log"; done
  echo "image smoke test: $fails check(s) failed"; exit 1
fi
echo "image smoke test: all checks passed"
