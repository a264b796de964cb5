#!/usr/bin/env bash
# Tests hearth-update's A/B logic on this machine, against files standing in
# for the boot partition and the two root slots: signature refusal, tampered
# payloads, writing only the inactive slot, the one-shot trial request, commit
# after a passing health check and rollback after a failing one.
#
# What this does NOT exercise: the Raspberry Pi firmware's own tryboot flag
# and os_prefix handling (no Pi here); image-build/smoke-test.sh boots the
# image under qemu with a harness playing the firmware's part.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
upd="$here/rootfs/usr/sbin/hearth-update"
t=$(mktemp -d); trap 'kill "${srv:-0}" 2>/dev/null || true; rm -rf "$t"' EXIT
fails=0
pass() { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; fails=$((fails + 1)); }

# A fake device: boot partition, two slot "devices", keys, health endpoint.
mkdir -p "$t/boot/a" "$t/boot/b" "$t/dev" "$t/keys" "$t/state" "$t/payload"
echo "console=ttyAMA0 root=PARTUUID=4ea27a00-02 rootfstype=ext4 ro rootwait hearth.slot=a" > "$t/boot/a/cmdline.txt"
echo kernel-a > "$t/boot/a/vmlinuz"
sed -e 's/@COMMITTED@/a/g' -e 's/@OTHER@/b/g' "$here/rootfs/usr/share/hearth/config.txt.in" > "$t/boot/config.txt"
head -c 8388608 /dev/zero | tr '\0' 'A' > "$t/dev/4ea27a00-02"
head -c 8388608 /dev/zero > "$t/dev/4ea27a00-03"
openssl genpkey -algorithm ed25519 -out "$t/release.pem" 2>/dev/null
openssl pkey -in "$t/release.pem" -pubout -out "$t/keys/release.pem"
openssl genpkey -algorithm ed25519 -out "$t/stranger.pem" 2>/dev/null
# A real (small) root file system, as build.sh makes: bundle.sh shrinks it.
mkdir -p "$t/newroot/etc" "$t/newroot/usr/bin"
echo 2.0 > "$t/newroot/etc/hearth-version"
head -c 300000 /dev/urandom > "$t/newroot/usr/bin/hearth"
mke2fs -q -t ext4 -L rootA -d "$t/newroot" "$t/rootfs.ext4" 6M >/dev/null 2>&1
echo kernel-new > "$t/payload/vmlinuz"; echo initrd-new > "$t/payload/initrd.img"
"$here/bundle.sh" --key "$t/release.pem" --rootfs "$t/rootfs.ext4" --boot-dir "$t/payload" --version 2.0 --out "$t/good.hup" >/dev/null
"$here/bundle.sh" --key "$t/stranger.pem" --rootfs "$t/rootfs.ext4" --boot-dir "$t/payload" --version 2.0 --out "$t/stranger.hup" >/dev/null
# Tampered: the signed manifest with another root image inside.
mkdir "$t/tamper"; tar -xf "$t/good.hup" -C "$t/tamper"
head -c 700000 /dev/urandom | gzip -1 > "$t/tamper/rootfs.ext4.gz"
tar -C "$t/tamper" -cf "$t/tampered.hup" manifest manifest.sig boot.tar rootfs.ext4.gz
# Too big for the slot.
head -c 9000000 /dev/urandom > "$t/big.ext4"
"$here/bundle.sh" --key "$t/release.pem" --rootfs "$t/big.ext4" --boot-dir "$t/payload" --version 3.0 --out "$t/big.hup" >/dev/null 2>&1

export HEARTH_UPDATE_BOOT="$t/boot" HEARTH_UPDATE_DEV_DIR="$t/dev" HEARTH_UPDATE_KEYS="$t/keys" \
  HEARTH_UPDATE_STATE="$t/state" HEARTH_UPDATE_TEMPLATE="$here/rootfs/usr/share/hearth/config.txt.in" \
  HEARTH_UPDATE_NO_REMOUNT=1 HEARTH_UPDATE_NO_CONSOLE=1 HEARTH_UPDATE_PLATFORM=oneshot-file \
  HEARTH_UPDATE_REBOOT="touch $t/rebooted" HEARTH_UPDATE_HEALTH_TIMEOUT_S=4 \
  HEARTH_UPDATE_HEALTH_INTERVAL_S=0.2 HEARTH_UPDATE_HEALTH_PASSES=2
cmdline() { echo "console=ttyAMA0 root=PARTUUID=4ea27a00-0$([ "$1" = a ] && echo 2 || echo 3) ro hearth.slot=$1" > "$t/cmdline"; }
export HEARTH_UPDATE_CMDLINE="$t/cmdline"
cmdline a
snapshot() { sha256sum "$t/dev/4ea27a00-02" "$t/dev/4ea27a00-03" "$t/boot/config.txt" | cut -d' ' -f1 | tr '\n' ' '; }

echo "hearth-update (host test)"
before=$(snapshot)
for bad in stranger tampered big; do
  if out=$("$upd" install --no-reboot "$t/$bad.hup" 2>&1); then fail "$bad bundle was accepted"; else pass "$bad bundle refused: ${out##*hearth-update: }"; fi
  [ ! -e "$t/boot/tryboot.flag" ] || fail "$bad bundle armed a trial boot"
  [ "$(sha256sum < "$t/dev/4ea27a00-02" | cut -d' ' -f1)" = "$(echo "$before" | cut -d' ' -f1)" ] || fail "$bad bundle touched the active slot"
  grep -q 'os_prefix=a/' <(sed -n '/^\[all\]/,/^\[/p' "$t/boot/config.txt") || fail "$bad bundle changed the committed slot"
done
printf 'garbage' > "$t/notatar.hup"
if "$upd" verify "$t/notatar.hup" >/dev/null 2>&1; then fail "garbage accepted"; else pass "garbage file refused"; fi
if "$upd" verify "$t/good.hup" >/dev/null; then pass "good bundle verifies"; else fail "good bundle does not verify"; fi

# Install: writes B only, arms the one-shot, leaves A committed.
"$upd" install --no-reboot "$t/good.hup" >/dev/null
[ "$(sha256sum < "$t/dev/4ea27a00-02" | cut -d' ' -f1)" = "$(echo "$before" | cut -d' ' -f1)" ] && pass "active slot A untouched" || fail "active slot A changed"
[ "$(debugfs -R 'cat /etc/hearth-version' "$t/dev/4ea27a00-03" 2>/dev/null)" = 2.0 ] && e2fsck -fn "$t/dev/4ea27a00-03" >/dev/null 2>&1 \
  && pass "slot B holds the new root (clean ext4, version 2.0)" || fail "slot B does not hold the new root"
[ -e "$t/boot/tryboot.flag" ] && pass "one-shot trial boot armed" || fail "no trial boot armed"
grep -q 'root=PARTUUID=4ea27a00-03 ' "$t/boot/b/cmdline.txt" && grep -q 'hearth.slot=b' "$t/boot/b/cmdline.txt" && pass "slot b cmdline names partition 3" || fail "slot b cmdline wrong: $(cat "$t/boot/b/cmdline.txt")"
[ "$(cat "$t/boot/b/vmlinuz")" = kernel-new ] && pass "slot b kernel written" || fail "slot b kernel missing"
grep -q ' hearth.trial=1$' "$t/boot/b/cmdline.txt" && pass "slot b boots as a trial (hearth.trial=1 arms the guard)" || fail "no hearth.trial=1 on slot b"
[ "$(awk '/^\[/{s=$0} s=="[all]" && /^os_prefix/{print; exit}' "$t/boot/config.txt")" = "os_prefix=a/" ] && pass "A still committed" || fail "committed slot changed before the trial"
[ "$(awk '/^\[/{s=$0} s=="[tryboot]" && /^os_prefix/{print; exit}' "$t/boot/config.txt")" = "os_prefix=b/" ] && pass "[tryboot] names b" || fail "[tryboot] does not name b"

# The boot loader consumes the flag and boots B once. Health fails: rollback.
rm "$t/boot/tryboot.flag"; cmdline b
if "$upd" install --no-reboot "$t/good.hup" >/dev/null 2>&1; then fail "install allowed during an unconfirmed trial"; else pass "no install during an unconfirmed trial"; fi
export HEARTH_UPDATE_HEALTH_URL="http://127.0.0.1:9/health"
rm -f "$t/rebooted"
"$upd" confirm >/dev/null 2>&1 || true
[ -e "$t/rebooted" ] && pass "failing health check reboots" || fail "failing health check did not reboot"
[ "$(awk '/^\[/{s=$0} s=="[all]" && /^os_prefix/{print; exit}' "$t/boot/config.txt")" = "os_prefix=a/" ] && pass "rollback: A stays committed" || fail "failed trial was committed"
grep -q "rolled back" "$t/state/last-result" && pass "rollback recorded" || fail "rollback not recorded"
# Without the flag the next boot is A again: the rollback is complete.
cmdline a
"$upd" confirm >/dev/null && pass "back on A: nothing to confirm" || fail "confirm on committed slot failed"

# A trial slot that does not boot at all: the firmware spends the one-shot
# on B, whose kernel never comes up (a panic, a root that does not mount);
# panic=10 or the watchdog resets the board and it boots A, committed.
"$upd" install --no-reboot "$t/good.hup" >/dev/null
rm "$t/boot/tryboot.flag"; cmdline a
rm -f "$t/rebooted"
"$upd" confirm >/dev/null && [ ! -e "$t/rebooted" ] && pass "after a trial that never booted: A runs, no reboot" || fail "confirm after a trial that never booted"
[ "$(awk '/^\[/{s=$0} s=="[all]" && /^os_prefix/{print; exit}' "$t/boot/config.txt")" = "os_prefix=a/" ] && pass "A stays committed" || fail "a slot that never booted was committed"
grep -q "did not come up" "$t/state/last-result" && pass "the failed trial is recorded: $(cat "$t/state/last-result")" || fail "failed trial not recorded: $(cat "$t/state/last-result")"
"$upd" status | grep -q '^last: .*did not come up' && pass "status says the trial did not come up" || fail "status does not say the trial failed"
# Recorded once: a later boot of A says nothing more.
"$upd" confirm >/dev/null; [ "$(grep -c 'did not come up' "$t/state/history")" = 1 ] && pass "recorded once" || fail "recorded again"
# A pending trial whose one-shot is not yet spent is not a failure.
"$upd" install --no-reboot "$t/good.hup" >/dev/null
"$upd" confirm >/dev/null; grep -q "trial boot pending" "$t/state/last-result" && pass "an unspent trial stays pending" || fail "an unspent trial was called failed"
rm "$t/boot/tryboot.flag"

# Second attempt; this time Hearth is healthy on B: commit.
"$upd" install --no-reboot "$t/good.hup" >/dev/null
rm "$t/boot/tryboot.flag"; cmdline b
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$t/www"; echo '{"status":"ok"}' > "$t/www/health"
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$t/www" >/dev/null 2>&1 & srv=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
export HEARTH_UPDATE_HEALTH_URL="http://127.0.0.1:$port/health"
rm -f "$t/rebooted"
"$upd" confirm >/dev/null
[ ! -e "$t/rebooted" ] && pass "passing health check does not reboot" || fail "rebooted despite a healthy Hearth"
[ "$(awk '/^\[/{s=$0} s=="[all]" && /^os_prefix/{print; exit}' "$t/boot/config.txt")" = "os_prefix=b/" ] && pass "B committed" || fail "B not committed"
grep -q 'hearth.trial' "$t/boot/b/cmdline.txt" && fail "hearth.trial=1 left on committed b" || pass "committed b boots without hearth.trial"
[ "$(awk '/^\[/{s=$0} s=="[tryboot]" && /^os_prefix/{print; exit}' "$t/boot/config.txt")" = "os_prefix=a/" ] && pass "[tryboot] now names a" || fail "[tryboot] does not name a"
"$upd" status > "$t/status"
grep -q '^state: *normal' "$t/status" && grep -q '^booted: *b' "$t/status" && pass "status: normal on B" || fail "status wrong: $(cat "$t/status")"

# On a Raspberry Pi the one-shot request is the firmware's tryboot flag,
# set by the reboot argument "0 tryboot" (one word), not a file.
printf '#!/bin/sh\nprintf "%%s|" "$@" > %s/reboot-args\n' "$t" > "$t/fake-reboot"; chmod +x "$t/fake-reboot"
HEARTH_UPDATE_PLATFORM=rpi HEARTH_UPDATE_REBOOT="$t/fake-reboot" "$upd" install "$t/good.hup" >/dev/null
[ "$(cat "$t/reboot-args" 2>/dev/null)" = "0 tryboot|" ] && pass "Pi: reboots with the one-word argument '0 tryboot'" || fail "Pi reboot args: $(cat "$t/reboot-args" 2>/dev/null)"
[ ! -e "$t/boot/tryboot.flag" ] && pass "Pi: no flag file (the firmware keeps the one-shot flag)" || fail "Pi: flag file written"
[ "$(awk '/^\[/{s=$0} s=="[tryboot]" && /^os_prefix/{print; exit}' "$t/boot/config.txt")" = "os_prefix=a/" ] && pass "Pi: [tryboot] names the new slot a" || fail "Pi: [tryboot] wrong"

if [ "$fails" -gt 0 ]; then echo "hearth-update: $fails check(s) failed"; exit 1; fi
echo "hearth-update: all checks passed"
