#!/usr/bin/env python3
"""Reference outputs and gradients for netspec-runtime's conv and pooling kernels.

Run from this directory with a PyTorch environment:

    /tmp/torchenv/bin/python conv_reference.py

It writes, next to itself,
  - conv_reference.json: the cases, for people and other tools;
  - conv_reference_data.rs: the same cases as Rust constants, `include!`d by
    runtime/tests/conv_reference.rs (the runtime has no JSON dependency).

Every case: inputs drawn from a seeded torch generator and rounded to f32, a fixed upstream
gradient `dy`, and torch's forward output and gradients for the loss sum(y * dy). Conv, average
and global average pooling are evaluated in float64 (the exact values of the f32 inputs, so the
Rust test measures the f32 kernels' own rounding); max and fractional max pooling in float32 (the
result is an input value either way, and FractionalMaxPool2d computes its intervals in the
input's dtype). Argmax indices are converted from torch's per-plane `ih * W + iw` to the
runtime's per-row `c * H * W + ih * W + iw`.
"""

import json
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
gen = torch.Generator().manual_seed(20240531)


def rand(*shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float32)


def flat(t):
    return [float(v) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def conv_case(name, n, c, h, w, filters, k, s, p, bias):
    x = rand(n, c, h, w)
    wt = rand(filters, c, k, k) * 0.5
    b = rand(filters) if bias else None
    x64 = x.double().requires_grad_()
    w64 = wt.double().requires_grad_()
    b64 = b.double().requires_grad_() if bias else None
    y = F.conv2d(x64, w64, b64, stride=s, padding=p)
    dy = rand(*y.shape)
    (y * dy.double()).sum().backward()
    return {
        "name": name, "rows": n, "in_channels": c, "height": h, "width": w,
        "filters": filters, "kernel": k, "stride": s, "pad": p,
        "out_height": y.shape[2], "out_width": y.shape[3],
        "x": flat(x), "weight": flat(wt), "bias": flat(b) if bias else None, "dy": flat(dy),
        "y": flat(y), "dx": flat(x64.grad), "dweight": flat(w64.grad),
        "dbias": flat(b64.grad) if bias else None,
    }


def plane_to_row(idx, c, h, w):
    # idx: [N, C, OH, OW] per-plane indices -> per-row indices
    offs = (torch.arange(c) * h * w).view(1, c, 1, 1)
    return [int(v) for v in (idx + offs).reshape(-1).tolist()]


def pool_case(name, kind, n, c, h, w, k, s, p):
    x = rand(n, c, h, w)
    case = {"name": name, "kind": kind, "rows": n, "channels": c, "height": h, "width": w,
            "kernel": k, "stride": s, "pad": p, "x": flat(x)}
    if kind == "max":
        xt = x.clone().requires_grad_()
        y, idx = F.max_pool2d(xt, k, s, p, return_indices=True)
        case["argmax"] = plane_to_row(idx, c, h, w)
    else:
        xt = x.double().requires_grad_()
        y = F.avg_pool2d(xt, k, s, p, count_include_pad=True)
        case["argmax"] = []
    dy = rand(*y.shape)
    (y * dy.to(y.dtype)).sum().backward()
    case.update({"out_height": y.shape[2], "out_width": y.shape[3], "dy": flat(dy),
                 "y": flat(y), "dx": flat(xt.grad)})
    return case


def global_case(name, n, c, h, w):
    x = rand(n, c, h, w)
    xt = x.double().requires_grad_()
    y = F.adaptive_avg_pool2d(xt, 1).flatten(1)
    dy = rand(*y.shape)
    (y * dy.double()).sum().backward()
    return {"name": name, "rows": n, "channels": c, "height": h, "width": w, "x": flat(x),
            "dy": flat(dy), "y": flat(y), "dx": flat(xt.grad)}


def fractional_case(name, n, c, h, w, out_h, out_w, samples):
    """samples: per row (u_width, u_height), shared by the row's channels."""
    x = rand(n, c, h, w)
    u = torch.tensor(samples, dtype=torch.float32).view(n, 1, 2).expand(n, c, 2).contiguous()
    xt = x.clone().requires_grad_()
    y, idx = F.fractional_max_pool2d(xt, 2, output_size=(out_h, out_w), return_indices=True,
                                     _random_samples=u)
    dy = rand(*y.shape)
    (y * dy).sum().backward()
    return {"name": name, "rows": n, "channels": c, "height": h, "width": w,
            "out_height": out_h, "out_width": out_w,
            "samples": [float(v) for pair in samples for v in pair], "x": flat(x),
            "dy": flat(dy), "y": flat(y), "argmax": plane_to_row(idx, c, h, w),
            "dx": flat(xt.grad)}


cases = {
    "torch_version": torch.__version__,
    "conv": [
        conv_case("k3_s2_p1_bias", 2, 3, 7, 6, 4, 3, 2, 1, True),
        conv_case("digits_k3_s1_p1", 2, 1, 8, 8, 4, 3, 1, 1, True),
        conv_case("k2_s3_p0_nobias", 2, 2, 8, 7, 3, 2, 3, 0, False),
        conv_case("k5_p2_kernel_eq_padded", 1, 2, 1, 3, 2, 5, 1, 2, True),
    ],
    "pool": [
        pool_case("max_k3_s2_p1", "max", 2, 2, 7, 6, 3, 2, 1),
        pool_case("max_k2_s2", "max", 2, 3, 5, 5, 2, 2, 0),
        pool_case("max_k2_s1_p1", "max", 1, 2, 4, 5, 2, 1, 1),
        pool_case("avg_k3_s2_p1", "avg", 2, 2, 7, 6, 3, 2, 1),
        pool_case("avg_k2_s1_p1", "avg", 1, 2, 4, 5, 2, 1, 1),
        pool_case("avg_k2_s3", "avg", 2, 1, 8, 8, 2, 3, 0),
    ],
    "global": [global_case("global_3x5x4", 2, 3, 5, 4)],
    "fractional": [
        # floor(9 / 1.41) = 6, floor(7 / 1.41) = 4: the shapes of `fractional_maxpool 1.41`.
        fractional_case("alpha_1_41_9x7", 3, 2, 9, 7, 6, 4,
                        [(0.25, 0.75), (0.5, 0.5), (0.9375, 0.0625)]),
        fractional_case("digits_8x8_to_5x5", 2, 3, 8, 8, 5, 5, [(0.1, 0.6), (0.999, 0.0)]),
        fractional_case("out_1", 1, 1, 3, 4, 1, 2, [(0.3, 0.7)]),
    ],
}

with open(os.path.join(HERE, "conv_reference.json"), "w") as f:
    json.dump(cases, f)
    f.write("\n")


def f32_literal(v):
    # The shortest decimal that rounds back to the same f32 (clippy rejects longer ones).
    text = str(np.float32(v))
    return text if any(ch in text for ch in ".e") else text + ".0"


def fl(values):
    return "&[" + ", ".join(f32_literal(v) for v in values) + "]"


def us(values):
    return "&[" + ", ".join(str(v) for v in values) + "]"


def opt(values):
    return "None" if values is None else f"Some({fl(values)})"


out = ["// Generated by conv_reference.py from PyTorch; do not edit.",
       f"const TORCH_VERSION: &str = {json.dumps(torch.__version__)};", ""]
out.append("const CONV: &[ConvCase] = &[")
for c in cases["conv"]:
    out.append(
        f"    ConvCase {{ name: {json.dumps(c['name'])}, rows: {c['rows']}, "
        f"in_channels: {c['in_channels']}, height: {c['height']}, width: {c['width']}, "
        f"filters: {c['filters']}, kernel: {c['kernel']}, stride: {c['stride']}, pad: {c['pad']}, "
        f"out_height: {c['out_height']}, out_width: {c['out_width']}, x: {fl(c['x'])}, "
        f"weight: {fl(c['weight'])}, bias: {opt(c['bias'])}, dy: {fl(c['dy'])}, y: {fl(c['y'])}, "
        f"dx: {fl(c['dx'])}, dweight: {fl(c['dweight'])}, dbias: {opt(c['dbias'])} }},")
out.append("];\n")
out.append("const POOL: &[PoolCase] = &[")
for c in cases["pool"]:
    out.append(
        f"    PoolCase {{ name: {json.dumps(c['name'])}, max: {'true' if c['kind'] == 'max' else 'false'}, "
        f"rows: {c['rows']}, channels: {c['channels']}, height: {c['height']}, width: {c['width']}, "
        f"kernel: {c['kernel']}, stride: {c['stride']}, pad: {c['pad']}, "
        f"out_height: {c['out_height']}, out_width: {c['out_width']}, x: {fl(c['x'])}, "
        f"dy: {fl(c['dy'])}, y: {fl(c['y'])}, argmax: {us(c['argmax'])}, dx: {fl(c['dx'])} }},")
out.append("];\n")
out.append("const GLOBAL: &[GlobalCase] = &[")
for c in cases["global"]:
    out.append(
        f"    GlobalCase {{ name: {json.dumps(c['name'])}, rows: {c['rows']}, "
        f"channels: {c['channels']}, height: {c['height']}, width: {c['width']}, x: {fl(c['x'])}, "
        f"dy: {fl(c['dy'])}, y: {fl(c['y'])}, dx: {fl(c['dx'])} }},")
out.append("];\n")
out.append("const FRACTIONAL: &[FractionalCase] = &[")
for c in cases["fractional"]:
    out.append(
        f"    FractionalCase {{ name: {json.dumps(c['name'])}, rows: {c['rows']}, "
        f"channels: {c['channels']}, height: {c['height']}, width: {c['width']}, "
        f"out_height: {c['out_height']}, out_width: {c['out_width']}, "
        f"samples: {fl(c['samples'])}, x: {fl(c['x'])}, dy: {fl(c['dy'])}, y: {fl(c['y'])}, "
        f"argmax: {us(c['argmax'])}, dx: {fl(c['dx'])} }},")
out.append("];")

with open(os.path.join(HERE, "conv_reference_data.rs"), "w") as f:
    f.write("\n".join(out) + "\n")
print(f"torch {torch.__version__}: wrote conv_reference.json and conv_reference_data.rs")
