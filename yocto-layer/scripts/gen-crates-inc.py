#!/usr/bin/env python3
"""Writes meta-hearth's hearth-crates.inc from the workspace Cargo.lock.

oe-core's cargo fetcher needs every crate the build uses as a `crate://`
SRC_URI with its checksum, which `bitbake -c update_crates hearth` would
generate. This script makes the same list without BitBake, so CI can check
that the include matches Cargo.lock:

    yocto-layer/scripts/gen-crates-inc.py            rewrite the include
    yocto-layer/scripts/gen-crates-inc.py --check    exit 1 if it drifted
"""
import argparse
import pathlib
import sys
import tomllib

REPO = pathlib.Path(__file__).resolve().parents[2]
LOCK = REPO / "Cargo.lock"
INC = REPO / "yocto-layer/meta-hearth/recipes-hearth/hearth/hearth-crates.inc"
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def render(lock: dict) -> str:
    crates = []
    for pkg in lock.get("package", []):
        source = pkg.get("source")
        if source is None:
            continue  # a workspace member, built from the git checkout
        if source != CRATES_IO:
            sys.exit(f"gen-crates-inc: {pkg['name']} comes from {source}; only crates.io is supported")
        if "checksum" not in pkg:
            sys.exit(f"gen-crates-inc: {pkg['name']} {pkg['version']} has no checksum in Cargo.lock")
        crates.append((pkg["name"], pkg["version"], pkg["checksum"]))
    crates.sort()
    lines = [
        "# Generated from Cargo.lock by yocto-layer/scripts/gen-crates-inc.py; do not edit.",
        "# CI fails when this drifts from Cargo.lock: rerun the script after changing dependencies.",
        "",
        'SRC_URI += "\\',
    ]
    lines += [f"    crate://crates.io/{n}/{v};name={n}-{v} \\" for n, v, _ in crates]
    lines += ['"', ""]
    lines += [f'SRC_URI[{n}-{v}.sha256sum] = "{c}"' for n, v, c in crates]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the include differs from Cargo.lock")
    args = ap.parse_args()
    with LOCK.open("rb") as f:
        text = render(tomllib.load(f))
    if args.check:
        current = INC.read_text() if INC.exists() else ""
        if current != text:
            print(f"{INC.relative_to(REPO)} is out of date with Cargo.lock; run yocto-layer/scripts/gen-crates-inc.py")
            return 1
        print(f"{INC.relative_to(REPO)} matches Cargo.lock ({text.count('crate://')} crates)")
        return 0
    INC.write_text(text)
    print(f"wrote {INC.relative_to(REPO)} ({text.count('crate://')} crates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
