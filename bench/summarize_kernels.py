#!/usr/bin/env python3
"""Prints the kernel micro-benchmarks (benches/kernels.rs) from criterion's JSON as a table:
median per variant, and speed-up over today's generated loops.
Usage: summarize_kernels.py [CRITERION_DIR]   (default: $CARGO_TARGET_DIR/criterion or target/criterion)"""
import json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
crit = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(here, "..", "target")), "criterion")
order = ["forward64", "forward1", "dw64", "db64", "dx64"]
shapes = ["4x16", "16x16", "16x3", "64x128", "128x64", "64x10", "784x256", "256x128", "128x10"]
print("| op | IN x OUT | " + "variants: median (speed-up over generated) | best |")
print("|---|---|---|---|")
for op in order:
    for shape in shapes:
        d = os.path.join(crit, op, shape)
        if not os.path.isdir(d):
            continue
        t = {}
        for var in sorted(os.listdir(d)):
            est = os.path.join(d, var, "new", "estimates.json")
            if os.path.exists(est):
                t[var] = json.load(open(est))["median"]["point_estimate"]
        base = t.get("generated")
        cells = []
        for var, v in sorted(t.items(), key=lambda kv: kv[1]):
            s = f"{v / 1e3:.2f} us" if v >= 1e3 else f"{v:.0f} ns"
            cells.append(f"{var} {s}" + (f" ({base / v:.1f}x)" if base else ""))
        print(f"| {op} | {shape} | " + ", ".join(cells) + f" | {min(t, key=t.get)} |")
