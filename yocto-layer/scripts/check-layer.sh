#!/usr/bin/env bash
# Every check of meta-hearth that runs without a full Yocto build (CI runs
# this from scripts/test.sh; about 30 s, plus ~20 s the first time for pip):
#   1. hearth-crates.inc matches Cargo.lock
#   2. oelint-adv over every recipe and include
#   3. the real BitBake parser over layer.conf and every recipe
#   4. proof that 2 and 3 fail on broken copies of the layer
# Tools go into a venv under target/ (PyPI: oelint-adv, bitbake-setup).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
venv=${HEARTH_YOCTO_VENV:-$repo/target/yocto-venv}
if [ ! -x "$venv/bin/oelint-adv" ] || ! "$venv/bin/python" -c 'import bb' 2>/dev/null; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian's own python3 keeps venv in a separate package.
    sudo_=(); [ "$(id -u)" -eq 0 ] || sudo_=(sudo)
    "${sudo_[@]}" apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends python3-venv
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'oelint-adv>=9,<10' 'bitbake-setup>=2.19,<3'
fi
echo "--> crates include vs Cargo.lock"
python3 "$here/gen-crates-inc.py" --check
echo "--> oelint-adv"
layer="$repo/yocto-layer/meta-hearth"
mapfile -t recipes < <(cd "$layer" && find . -name '*.bb' -o -name '*.bbappend' | sort)
(cd "$layer" && "$venv/bin/oelint-adv" --quiet --release wrynose --hide info \
  --suppress oelint.vars.homepageping --constantmods="+$here/oelint-constants.json" "${recipes[@]}")
echo "    ${#recipes[@]} recipe(s) clean"
echo "--> BitBake parser"
"$venv/bin/python" "$here/parse-layer.py" "$layer"
echo "--> the checks themselves"
"$here/test-checks.sh" "$venv/bin/python" "$venv/bin/oelint-adv"
