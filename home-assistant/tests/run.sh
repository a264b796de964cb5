#!/usr/bin/env bash
# End-to-end test of the Home Assistant integration: a real mosquitto, a real
# Home Assistant (headless, in a cached venv) and `hearth run --sim`, checked
# through Home Assistant's own REST and WebSocket APIs. Idempotent: installs
# mosquitto and the venv only when missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${HEARTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth}
REQS="$ROOT/home-assistant/tests/requirements.txt"
VENV="$CACHE/ha-venv-$(sha256sum "$REQS" | cut -c1-12)"

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    echo "== installing mosquitto"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq mosquitto >/dev/null
fi

if [ ! -f "$VENV/.complete" ]; then
    PY=$(command -v python3.11 || command -v python3)
    echo "== installing Home Assistant into $VENV (once; a few minutes)"
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
    touch "$VENV/.complete"
fi

cd "$ROOT"
cargo build -q -p hearth --bin hearth
exec "$VENV/bin/python" "$ROOT/home-assistant/tests/e2e.py" --hearth "$ROOT/target/debug/hearth" "$@"
