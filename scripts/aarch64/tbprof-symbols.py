#!/usr/bin/env python3
"""Sums a tbprof.c profile per function of an aarch64 PIE binary run under
qemu-user: python3 tbprof-symbols.py BINARY PROFILE [TOP].

qemu-user 7.2 loads an aarch64 PIE at 0x5500000000; blocks outside the
binary (the dynamic loader, libc: malloc, free, memcpy) are summed as
shared libraries (libc has no symbols for its internal functions here)."""
import bisect
import collections
import subprocess
import sys

LOAD_BASE = 0x5500000000


def main():
    binary, profile = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    nm = subprocess.run(["aarch64-linux-gnu-nm", "-C", "--defined-only", "-n", binary],
                        capture_output=True, text=True, check=True).stdout
    syms = []
    for line in nm.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16), parts[2]))
    end = max(a for a, _ in syms) + 0x100000
    addrs = [a for a, _ in syms]
    per_fn = collections.Counter()
    total = 0
    with open(profile) as f:
        for line in f:
            vaddr, insns = line.split()
            off, n = int(vaddr, 16) - LOAD_BASE, int(insns)
            total += n
            i = bisect.bisect_right(addrs, off) - 1
            name = syms[i][1] if 0 <= off < end and i >= 0 else "[shared libraries]"
            per_fn[name] += n
    print(f"total {total} instructions")
    for name, n in per_fn.most_common(top):
        print(f"{100 * n / total:5.1f}% {n:>14} {name[:120]}")


if __name__ == "__main__":
    main()
