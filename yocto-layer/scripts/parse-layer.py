#!/usr/bin/env python3
"""Parses meta-hearth with the real BitBake parser and fails on any error.

BitBake itself is not packaged for Debian 12 and a full OE build needs
network clones; the `bb` package that PyPI's bitbake-setup ships is the real
parser, so this script runs it over conf/layer.conf and every recipe (with
their `require`d files) on top of small stub classes and a stub
bitbake.conf (scripts/bb-stubs). It fails on:
  - a syntax error anywhere (BitBake's own ParseError),
  - a `require`d file that does not exist,
  - a ${VAR} reference, in any variable the layer sets, that nothing defines
    (a typo such as ${systemd_sytem_unitdir}),
  - layer.conf lacking the collection settings BitBake needs,
  - a .bbappend with no recipe to append to (the layer's own, or a stub of
    another layer's in bb-stubs/recipes), parsed appended as BitBake does,
  - config.txt settings for the hashboard buses (UART, I2C, 1-wire, PWM)
    missing from rpi-config's append for raspberrypi4-64 or raspberrypi5.

    yocto-layer/scripts/parse-layer.py [LAYER_DIR]
"""
import glob
import logging
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
STUBS = os.path.join(HERE, "bb-stubs")
sys.path.insert(0, os.path.join(STUBS, "python"))

import bb  # noqa: E402
import bb.data
import bb.parse
import bb.siggen  # noqa: E402
import bb.parse.parse_py  # registers the .conf/.bb/.bbclass handlers  # noqa: F401
import bb.utils

UNEXPANDED = re.compile(r"\$\{[A-Za-z0-9_:+.-]+\}")
# BitBake's own bookkeeping, not recipe variables.
FLAG_VARS = {"BB_RENAMED_VARIABLES"}


def fail(msg):
    print(f"parse-layer: {msg}")
    sys.exit(1)


def base_data(layer, topdir):
    d = bb.data.init()
    d.enableTracking()  # variable history: which file set what
    d.setVar("TOPDIR", topdir)
    d.setVar("__bbclasstype", "recipe")  # what the cooker sets for recipes
    d.setVar("BBPATH", f"{STUBS}:{layer}")
    bb.parse.handle(os.path.join(STUBS, "conf", "bitbake.conf"), d)
    d.setVar("LAYERDIR", layer)
    d = bb.parse.handle(os.path.join(layer, "conf", "layer.conf"), d)
    d.expandVarref("LAYERDIR")  # as BitBake does for each layer
    d.delVar("LAYERDIR")
    # Finalising a recipe computes task signatures, as in a real build.
    bb.parse.siggen = bb.siggen.init(d)
    return d


def check_layer_conf(d):
    cols = (d.getVar("BBFILE_COLLECTIONS") or "").split()
    if not cols:
        fail("layer.conf sets no BBFILE_COLLECTIONS")
    for c in cols:
        for v in ("BBFILE_PATTERN", "BBFILE_PRIORITY", "LAYERSERIES_COMPAT", "LAYERDEPENDS"):
            if not d.getVar(f"{v}_{c}"):
                fail(f"layer.conf lacks {v}_{c}")
    return cols


def recipe_files(d):
    files = []
    for pattern in (d.getVar("BBFILES") or "").split():
        files += glob.glob(pattern)
    return sorted(set(files))


def append_base(append, recipes):
    """The recipe a .bbappend applies to: BitBake's rule, `%` matching any
    version; the layer's own recipes first, then the stubs of other layers."""
    stem = os.path.basename(append)[: -len(".bbappend")]
    prefix = stem.split("%")[0]
    stubs = sorted(glob.glob(os.path.join(STUBS, "recipes", "*.bb")))
    for bb_file in recipes + stubs:
        name = os.path.basename(bb_file)[: -len(".bb")]
        if name == stem or ("%" in stem and name.startswith(prefix)):
            return bb_file
    return None


# What config.txt must carry for Hearth's buses on each machine
# (recipes-bsp/bootfiles/rpi-config_%.bbappend; meta-raspberrypi's variables).
BUS_CONFIG = {
    "raspberrypi4-64": ["dtoverlay=disable-bt", "dtoverlay=w1-gpio,gpiopin=4",
                        "dtoverlay=pwm-2chan,pin=18,func=2,pin2=19,func2=2"],
    "raspberrypi5": ["dtparam=uart0=on", "dtoverlay=w1-gpio,gpiopin=4",
                     "dtoverlay=pwm-2chan,pin=18,func=2,pin2=19,func2=2"],
}


def check_bus_config(d, base, append, layer):
    problems = []
    for machine, lines in BUS_CONFIG.items():
        md = bb.data.createCopy(d)
        md.setVar("MACHINE", machine)
        md.setVar("MACHINEOVERRIDES", machine)
        md.setVar("__BBAPPEND", append)
        rd = bb.parse.handle(base, md)
        rd = rd[""] if isinstance(rd, dict) else rd
        for var in ("ENABLE_UART", "ENABLE_I2C"):
            if rd.getVar(var) != "1":
                problems.append(f"{machine}: {var} is {rd.getVar(var)!r}, not \"1\"")
        extra = [x.strip() for x in (rd.getVar("RPI_EXTRA_CONFIG") or "").split("\\n")]
        for line in lines:
            if line not in extra:
                problems.append(f"{machine}: RPI_EXTRA_CONFIG lacks {line}")
    for p in problems:
        print(f"parse-layer: {os.path.relpath(append, layer)}: {p}")
    if not problems:
        print(f"parse-layer: ok bus config.txt lines for {', '.join(BUS_CONFIG)}")
    return len(problems)


def checked_vars(rd):
    """Every variable and function after parsing. The stubs are clean, so
    an unexpandable reference can only come from the layer. (BitBake's
    variable history does not name the file for functions, so the check
    does not try to tell the layer's own variables apart.)"""
    return [k for k in rd.keys() if not k.startswith("_") and k not in FLAG_VARS]


def check_references(rd, layer, recipe):
    problems = []
    for key in checked_vars(rd):
        if rd.getVarFlag(key, "func", False):
            value = rd.getVar(key, False) or ""
        else:
            value = rd.getVar(key, False)
            if not isinstance(value, str):
                continue
        try:
            expanded = rd.expand(value)
        except Exception as e:  # an expansion error is a real recipe bug
            problems.append(f"{key}: cannot expand: {e}")
            continue
        for ref in sorted(set(UNEXPANDED.findall(expanded))):
            problems.append(f"{key} references {ref}, which nothing defines")
    for p in problems:
        print(f"parse-layer: {os.path.relpath(recipe, layer)}: {p}")
    return len(problems)


def main():
    layer = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "meta-hearth"))
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as topdir:
        try:
            d = base_data(layer, topdir)
        except bb.parse.ParseError as e:
            fail(f"layer.conf: {e}")
        cols = check_layer_conf(d)
        found = recipe_files(d)
        recipes = [f for f in found if f.endswith(".bb")]
        appends = [f for f in found if f.endswith(".bbappend")]
        if not recipes:
            fail("BBFILES matches no recipe")
        bad = 0
        bases = {}
        for append in appends:
            base = append_base(append, recipes)
            if base is None:
                print(f"parse-layer: {os.path.relpath(append, layer)}: no recipe to append to")
                bad += 1
            else:
                bases[append] = base
        for recipe in recipes + list(bases):
            rd = bb.data.createCopy(d)
            if recipe in bases:
                rd.setVar("__BBAPPEND", recipe)
            try:
                variants = bb.parse.handle(bases.get(recipe, recipe), rd)
            except (bb.parse.ParseError, FileNotFoundError) as e:
                print(f"parse-layer: {os.path.relpath(recipe, layer)}: {e}")
                bad += 1
                continue
            except Exception as e:
                print(f"parse-layer: {os.path.relpath(recipe, layer)}: {type(e).__name__}: {e}")
                bad += 1
                continue
            rd = variants[""] if isinstance(variants, dict) else variants
            n = check_references(rd, layer, recipe)
            bad += n
            if n == 0:
                print(f"parse-layer: ok {os.path.relpath(recipe, layer)} "
                      f"(PN={rd.getVar('PN')}, {len((rd.getVar('SRC_URI') or '').split())} SRC_URI entries)")
        for append, base in bases.items():
            if os.path.basename(append).startswith("rpi-config_"):
                bad += check_bus_config(d, base, append, layer)
        if not any(os.path.basename(a).startswith("rpi-config_") for a in appends):
            print("parse-layer: no rpi-config append: config.txt would lack the hashboard buses")
            bad += 1
        recipes = recipes + appends
        if bad:
            fail(f"{bad} problem(s) in {len(recipes)} recipe(s)")
        print(f"parse-layer: collections {' '.join(cols)}: {len(recipes)} recipe(s) parsed cleanly")


if __name__ == "__main__":
    main()
