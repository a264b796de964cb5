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
  - layer.conf lacking the collection settings BitBake needs.

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
        recipes = recipe_files(d)
        if not recipes:
            fail("BBFILES matches no recipe")
        bad = 0
        for recipe in recipes:
            rd = bb.data.createCopy(d)
            try:
                variants = bb.parse.handle(recipe, rd)
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
        if bad:
            fail(f"{bad} problem(s) in {len(recipes)} recipe(s)")
        print(f"parse-layer: collections {' '.join(cols)}: {len(recipes)} recipe(s) parsed cleanly")


if __name__ == "__main__":
    main()
