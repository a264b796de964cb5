#!/usr/bin/env bash
# Checks the dependency invariants written in docs/ARCHITECTURE.md:
#   I1  pure crates depend on no async runtime, HTTP, MQTT or SQLite;
#   I2  control never sees a bus (no embedded-hal, no driver crates);
#   I3  drivers never see a setpoint (no hearth-control, no hearth-sim);
#   I4  hearth-core depends on no other hearth crate.
# Usage: scripts/check-architecture.sh CRATE...   (the pure crates)
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
deps() { cargo tree -p "$1" -e normal --prefix none --format '{p}' 2>/dev/null | awk -v self="$1" '$1 != self {print $1}' | sort -u; }
forbid() { # crate, rule, regex
  local hits
  hits=$(deps "$1" | grep -E "^($3)$" || true)
  if [ -n "$hits" ]; then
    echo "violation $2: $1 depends on: $(echo "$hits" | tr '\n' ' ')"
    fail=1
  fi
}
for c in "$@"; do
  forbid "$c" I1 'tokio|axum|hyper|rusqlite|libsqlite3-sys|rumqttc|reqwest|mio'
done
forbid hearth-control I2 'embedded-hal|hearth-periph|hearth-bm13xx|hearth-chain|hearth-board|hearth-simchip|serialport|rppal|linux-embedded-hal'
for d in hearth-bm13xx hearth-periph hearth-chain hearth-simchip hearth-board hearth-linux; do
  if cargo metadata --no-deps --format-version 1 | grep -q "\"name\":\"$d\""; then
    forbid "$d" I3 'hearth-control|hearth-sim'
  fi
done
forbid hearth-core I4 'hearth-[a-z0-9-]+'
if [ "$fail" -ne 0 ]; then
  echo "architecture invariants violated (see docs/ARCHITECTURE.md)"
  exit 1
fi
echo "architecture invariants hold for: $*"
