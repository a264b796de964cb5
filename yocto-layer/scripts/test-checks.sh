#!/usr/bin/env bash
# Proves the layer checks can fail: copies meta-hearth, breaks it several
# ways, and expects parse-layer.py to refuse each copy (and oelint-adv to
# refuse a misspelt variable), then accepts the untouched layer.
#   test-checks.sh PYTHON OELINT
set -euo pipefail
py=$1 oelint=$2
here=$(cd "$(dirname "$0")" && pwd)
layer="$here/../meta-hearth"
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fails=0
expect_fail() { # name, layer copy
  if "$py" "$here/parse-layer.py" "$2" >"$t/out" 2>&1; then
    echo "  FAIL parse-layer accepted: $1"; fails=$((fails + 1))
  else
    echo "  ok   parse-layer refuses $1: $(grep -v ': ok ' "$t/out" | head -n1 | cut -c1-120)"
  fi
}
mutate() { rm -rf "$t/l"; cp -r "$layer" "$t/l"; }
recipe="recipes-hearth/hearth/hearth_git.bb"

mutate; printf 'do_install:append() {\n    install -d ${D}\n' >> "$t/l/$recipe"
expect_fail "an unterminated function" "$t/l"
mutate; sed -i 's/${systemd_system_unitdir}\/$/${systemd_sytem_unitdir}\//' "$t/l/$recipe"
grep -q sytem "$t/l/$recipe" || { echo "  FAIL mutation did not apply"; fails=$((fails + 1)); }
expect_fail "a reference to an undefined variable" "$t/l"
mutate; sed -i 's/^require ${BPN}-crates.inc/require ${BPN}-crate.inc/' "$t/l/$recipe"
expect_fail "a missing required file" "$t/l"
mutate; echo 'SRC_URI += "file://x' >> "$t/l/recipes-core/images/hearth-image.bb"
expect_fail "an unterminated string" "$t/l"
mutate; sed -i 's/^SYSTEMD_SERVICE:/SYSTEMD_SERVISE:/' "$t/l/$recipe"
if (cd "$t/l" && "$oelint" --quiet --release wrynose --hide info --suppress oelint.vars.homepageping "$recipe" >/dev/null 2>&1); then
  echo "  FAIL oelint-adv accepted a misspelt SYSTEMD_SERVICE"; fails=$((fails + 1))
else
  echo "  ok   oelint-adv refuses a misspelt SYSTEMD_SERVICE"
fi
bbappend="recipes-bsp/bootfiles/rpi-config_%.bbappend"
mutate; sed -i 's/\\ndtoverlay=w1-gpio,gpiopin=4//' "$t/l/$bbappend"
grep -q 'dtoverlay=w1-gpio' "$t/l/$bbappend" && { echo "  FAIL mutation did not apply"; fails=$((fails + 1)); }
expect_fail "config.txt without the 1-wire overlay" "$t/l"
mutate; sed -i '/^ENABLE_UART:raspberrypi5/d' "$t/l/$bbappend"
expect_fail "config.txt without the UART on the Pi 5" "$t/l"
mutate; mv "$t/l/$bbappend" "$t/l/recipes-bsp/bootfiles/rpi-confg_%.bbappend"
expect_fail "a bbappend with no recipe to append to" "$t/l"
if "$py" "$here/parse-layer.py" "$layer" >/dev/null; then echo "  ok   the real layer parses"; else echo "  FAIL the real layer does not parse"; fails=$((fails + 1)); fi
[ "$fails" = 0 ] || { echo "layer checks: $fails failure(s)"; exit 1; }
echo "layer checks: the checks catch what they should"
