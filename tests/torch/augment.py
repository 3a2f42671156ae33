"""Checks the augmentation helpers of an exported module against netspec's Augmenter, given
netspec's draws (tests/tests/torch_parity.rs writes them), then the module's own `augment`.

    python augment.py MODULE DATA.safetensors
"""

import importlib
import sys

import numpy as np
import torch
from safetensors.torch import load_file

TOL = 1e-6  # max |torch - netspec| (the same f32 arithmetic, up to the order of operations)


def main():
    sys.path.insert(0, ".")
    m = importlib.import_module(sys.argv[1])
    data = load_file(sys.argv[2])
    failed = 0
    for name in ["translate", "flip_horizontal", "flip_vertical", "rotate", "noise", "cutout",
                 "mixup", "cutmix"]:
        x, t, d = data[f"{name}.x"], data[f"{name}.t"], data[f"{name}.draws"]
        n = x.shape[0]
        t_out = t
        if name == "translate":
            out = m._translate_by(x, d.reshape(n, 2).to(torch.long))
        elif name.startswith("flip"):
            dim = 3 if name == "flip_horizontal" else 2
            out = torch.where(d.reshape(n, 1, 1, 1) > 0, x.flip(dim), x)
        elif name == "rotate":
            out = m._rotate_by(x, d)
        elif name == "noise":
            out = x + d.reshape(x.shape)
        elif name == "cutout":
            out = m._cutout_at(x, 3, d.reshape(n, 2).to(torch.long))
        elif name == "mixup":
            out, t_out = m._mix(x, t, float(d[n]), d[:n].to(torch.long))
        else:
            box = tuple(int(v) for v in d[n:])
            out, t_out = m._paste(x, t, d[:n].to(torch.long), box)
        err = max((out - data[f"{name}.out"]).abs().max().item(),
                  (t_out - data[f"{name}.t_out"]).abs().max().item())
        ok = err <= TOL
        failed += not ok
        print(f"augment {name:16} max |torch - netspec| {err:.1e}" + ("" if ok else "  FAILED"))

    # the module's own draws: shapes kept, soft labels summing to 1
    model = m.DigitsCnn()
    x = torch.rand(model.BATCH, *model.INPUT_SHAPE)
    labels = torch.randint(10, (model.BATCH,))
    for _ in range(20):
        out, soft = model.augment(x, labels)
        good = (out.shape == x.shape and soft.shape == (model.BATCH, 10)
                and torch.allclose(soft.sum(dim=1), torch.ones(model.BATCH))
                and bool(torch.isfinite(out).all()))
        if not good:
            failed += 1
            print("DigitsCnn.augment: bad shapes or labels FAILED")
            break
    print(f"{9 - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
