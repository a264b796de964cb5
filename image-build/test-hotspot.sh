#!/usr/bin/env bash
# Tests the Wi-Fi setup hotspot's form handler (rootfs/usr/share/hearth/
# hotspot/cgi-bin/wifi) on this machine, as busybox httpd runs it: a POST
# body on stdin, CONTENT_LENGTH in the environment, the real busybox and
# wpa_passphrase, systemctl stubbed. Whoever joins the open setup network
# can post to it, so the checks are about what it writes: the name as hex,
# the password only as its derived key, 0600, nothing on a refusal, and no
# way for a field to add lines to wpa_supplicant's config.
#
# The radio side (the decision to open the hotspot, hostapd, a phone
# joining it and posting the form, the Pi then joining the home network) is
# tested over mac80211_hwsim in the image's smoke test (smoke-test.sh, the
# Wi-Fi boots); brcmfmac itself needs a Pi.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cgi="$here/rootfs/usr/share/hearth/hotspot/cgi-bin/wifi"
libexec="$here/rootfs/usr/libexec/hearth"
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fails=0
pass() { echo "  ok   $*"; }
fail() { echo "  FAIL $*"; fails=$((fails + 1)); }
for tool in busybox wpa_passphrase od; do
  command -v "$tool" >/dev/null || { echo "test-hotspot: $tool is missing (scripts/test.sh installs busybox and wpasupplicant)"; exit 1; }
done
mkdir -p "$t/bin"
printf '#!/bin/sh\necho "$@" >> %s/systemctl.log\n' "$t" > "$t/bin/systemctl"; chmod +x "$t/bin/systemctl"
conf="$t/data/wpa_supplicant-wlan0.conf"

# post BODY: runs the handler, prints its reply (without the header).
post() {
  rm -f "$t/systemctl.log"
  printf '%s' "$1" | env -i PATH="$t/bin:/usr/sbin:/usr/bin:/sbin:/bin" CONTENT_LENGTH="${#1}" \
    HEARTH_WIFI_CONF="$conf" HEARTH_LIBEXEC="$libexec" HEARTH_WIFI_REBOOT_DELAY_S=0 /bin/sh "$cgi" | tr -d '\r' | sed '1,/^$/d'
  sleep 0.3 # the reboot request runs in the background
}
hex() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }

echo "hotspot form handler (host test)"
out=$(post 'ssid=Home+Net&psk=correct+horse&country=de')
key=$(wpa_passphrase 'Home Net' 'correct horse' | sed -n 's/^[[:space:]]*psk=\([0-9a-f]\{64\}\)$/\1/p')
want=$(printf 'ctrl_interface=DIR=/run/wpa_supplicant\ncountry=DE\nnetwork={\n\tssid=%s\n\tpsk=%s\n}' "$(hex 'Home Net')" "$key")
[ "$(cat "$conf")" = "$want" ] && pass "WPA network written: name as hex, the derived key, country DE" || fail "WPA config wrong: $(cat "$conf")"
grep -q 'correct horse' "$conf" && fail "the clear-text password is in the file" || pass "no clear-text password in the file"
[ "$(stat -c %a "$conf")" = 600 ] && pass "the file is 0600" || fail "mode $(stat -c %a "$conf")"
grep -q '^Saved' <<<"$out" && pass "the page says saved" || fail "reply: $out"
grep -qx reboot "$t/systemctl.log" 2>/dev/null && pass "a reboot is asked for" || fail "no reboot asked for"

# A name with a quote, an ampersand and a plus sign: kept exactly, as bytes.
post 'ssid=Bob%27s+%22Wi-Fi%22+%26+1%2B1&country=gb' >/dev/null
grep -q "ssid=$(hex "Bob's \"Wi-Fi\" & 1+1")\$" "$conf" && grep -q 'key_mgmt=NONE' "$conf" \
  && pass "an open network whose name has quotes, & and + is written as its exact bytes" || fail "open network: $(cat "$conf")"

# Refusals change nothing and reboot nothing.
before=$(sha256sum < "$conf")
for body in \
  'ssid=x%22%0A%09key_mgmt%3DNONE%0A%7D%0Anetwork%3D%7B%0A%09ssid%3D%22evil&psk=' \
  'ssid=evil%0Actrl_interface%3D%2Ftmp&psk=correct+horse' \
  'ssid=Home&psk=short' \
  'ssid=Home&psk=tab%09in+the+password' \
  'ssid=&psk=correct+horse' \
  'ssid=123456789012345678901234567890123&psk=correct+horse' \
  'psk=correct+horse'; do
  out=$(post "$body")
  if [ "$(sha256sum < "$conf")" = "$before" ] && [ ! -e "$t/systemctl.log" ] && grep -q 'Nothing was changed' <<<"$out"; then
    pass "refused, nothing written, no reboot: ${body:0:40}… ($out)"
  else
    fail "not refused cleanly: $body -> $out; $(cat "$conf")"
  fi
done
# No field can add a line: the file is always the same five or six lines.
[ "$(wc -l < "$conf")" -le 6 ] && ! grep -q evil "$conf" && pass "no injected lines survive" || fail "injected: $(cat "$conf")"

# hearth-setup.txt's wifi_ssid/wifi_psk go through the same helper (setup
# calls it with the values as read from the file): exit 2 and the old
# settings kept on a refusal, the name as bytes on success.
helper="$libexec/wifi-conf"
cp "$conf" "$t/kept"
if why=$("$helper" "$conf" 'Home' 'short' 'DE'); then fail "helper accepted a 5-character password"
else rc=$?; [ "$rc" = 2 ] && cmp -s "$conf" "$t/kept" && pass "helper: a refusal exits 2 and keeps the old settings ($why)" || fail "helper refusal: rc $rc, $(cat "$conf")"; fi
"$helper" "$conf" 'Flat "3" \ back' 'p@ss word 42' 'xx1' && grep -q "ssid=$(hex 'Flat "3" \ back')\$" "$conf" && grep -q '^country=XX$' "$conf" \
  && pass "helper: quotes and a backslash from hearth-setup.txt kept as bytes" || fail "helper: $(cat "$conf")"
grep -q '/usr/libexec/hearth/wifi-conf' "$here/rootfs/usr/libexec/hearth/setup" && pass "hearth-setup writes Wi-Fi settings through wifi-conf" || fail "hearth-setup does not use wifi-conf"

if [ "$fails" -gt 0 ]; then echo "test-hotspot: $fails check(s) failed"; exit 1; fi
echo "test-hotspot: all checks passed"
