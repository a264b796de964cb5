#!/usr/bin/env bash
# End-to-end test of the Home Assistant integration: a real mosquitto, a real
# Home Assistant (headless, in a cached venv) and `hearth run --sim`, checked
# through Home Assistant's own REST and WebSocket APIs. Idempotent: installs
# mosquitto and the venvs only when missing.
#
# Two Home Assistant releases:
#   2024.3.3  on Python 3.11 (Debian 12's), per-entity discovery; always run.
#   2024.12.5 on Python 3.12, device-based discovery (2024.11+); run when a
#             Python 3.12 is found (HEARTH_HA_DEVICE=0 skips it, =1 demands it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${HEARTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth}
TESTS="$ROOT/home-assistant/tests"

if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    echo "== installing mosquitto"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq mosquitto >/dev/null
fi

# A working interpreter of version $1 (a pyenv shim may exist but refuse).
find_python() {
    local v=$1 c
    for c in "$(command -v "python$v" || true)" "$HOME"/.pyenv/versions/"$v".*/bin/"python$v" /usr/bin/"python$v"; do
        if [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import venv' >/dev/null 2>&1; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

# The venv for a requirements file, created once (keyed by the file's hash).
venv_for() {
    local py=$1 reqs=$2 venv
    venv="$CACHE/ha-venv-$(sha256sum "$reqs" | cut -c1-12)"
    if [ ! -f "$venv/.complete" ]; then
        echo "== installing $(grep -m1 '^homeassistant==' "$reqs") into $venv (once; about 10 minutes)" >&2
        rm -rf "$venv"
        mkdir -p "$CACHE"
        "$py" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs" >&2
        touch "$venv/.complete"
    fi
    echo "$venv"
}

cd "$ROOT"
cargo build -q -p hearth --bin hearth
HEARTH="$ROOT/target/debug/hearth"

PY311=$(find_python 3.11 || command -v python3)
VENV=$(venv_for "$PY311" "$TESTS/requirements.txt")
echo "== Home Assistant 2024.3.3, per-entity discovery"
"$VENV/bin/python" "$TESTS/e2e.py" --hearth "$HEARTH" --discovery per_entity "$@"

if [ "${HEARTH_HA_DEVICE:-auto}" != 0 ]; then
    if PY312=$(find_python 3.12); then
        VENV=$(venv_for "$PY312" "$TESTS/requirements-2024.12.txt")
        echo "== Home Assistant 2024.12.5, device-based discovery"
        "$VENV/bin/python" "$TESTS/e2e.py" --hearth "$HEARTH" --discovery device "$@"
    elif [ "${HEARTH_HA_DEVICE:-auto}" = 1 ]; then
        echo "HEARTH_HA_DEVICE=1 but no Python 3.12 found" >&2
        exit 1
    else
        echo "== no Python 3.12: device-based discovery is checked by cargo test -p hearth --test mqtt_mosquitto only"
    fi
fi
