"""Checks the `_Preprocess` module of an exported file against netspec's Preprocessor (fitted
statistics and preprocessed rows, written by tests/tests/torch_parity.rs).

    python preprocess.py MODULE
"""

import importlib
import sys

import torch
from safetensors.torch import load_file

STATS_TOL = 1e-5  # relative to each statistic's scale (f32 storage; eigh against Jacobi for ZCA)
APPLY_TOL = 1e-5


def rel(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-3)).item()


def main():
    sys.path.insert(0, ".")
    m = importlib.import_module(sys.argv[1])
    data = load_file("preprocess.safetensors")
    failed = passed = 0
    for line in open("preprocess.txt").read().splitlines():
        i, kind, shape = line.split("|")
        shape = tuple(int(s) for s in shape.split(","))
        pre = m._Preprocess(kind, shape, 1e-5)
        rows = data[f"{i}.rows"]
        pre.fit(rows)
        errors = {}
        for name, value in pre.state_dict().items():
            errors[name] = rel(value, data[f"{i}.preprocess.{name}"])
        errors["applied"] = rel(pre(rows.reshape((-1,) + shape)).reshape(rows.shape),
                                data[f"{i}.applied"])
        ok = all(e <= (APPLY_TOL if k == "applied" else STATS_TOL) for k, e in errors.items())
        passed, failed = passed + ok, failed + (not ok)
        print(f"preprocess {kind:26} " + "  ".join(f"{k} {e:.1e}" for k, e in errors.items())
              + ("" if ok else "  FAILED"))
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
