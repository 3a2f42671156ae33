#!/usr/bin/env python3
"""Reference outputs and gradients for the conv options (per-axis kernel, stride and padding,
dilation, groups), the 1-D layers (run by netspec as images of height 1), average pooling
without counting the padding and global max pooling.

Run from this directory with a PyTorch environment:

    ~/.cache/netspec/torch-venv/bin/python conv_options_reference.py

It writes conv_options_reference_data.rs next to itself, `include!`d by
runtime/tests/conv_options_reference.rs. As in conv_reference.py: inputs drawn from a seeded
torch generator and rounded to f32, the loss sum(y * dy), conv and average pooling evaluated in
float64, max pooling in float32, argmax indices as per-row `c * H * W + ih * W + iw`.
"""

import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
gen = torch.Generator().manual_seed(20261201)


def rand(*shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float32)


def flat(t):
    return [float(v) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def conv_case(name, n, c, h, w, filters, k, s, p, d, g, one_d=False):
    """A conv case; `one_d` runs F.conv1d on (n, c, w) with the width-axis options (h = 1)."""
    x = rand(n, c, h, w)
    wt = rand(filters, c // g, k[0], k[1]) * 0.5
    b = rand(filters)
    x64, w64, b64 = (t.double().requires_grad_() for t in (x, wt, b))
    if one_d:
        assert h == 1 and k[0] == 1
        y = F.conv1d(x64[:, :, 0, :], w64[:, :, 0, :], b64, stride=s[1], padding=p[1],
                     dilation=d[1], groups=g).unsqueeze(2)
    else:
        y = F.conv2d(x64, w64, b64, stride=s, padding=p, dilation=d, groups=g)
    dy = rand(*y.shape)
    (y * dy.double()).sum().backward()
    return dict(name=name, rows=n, shape=(c, h, w, filters, k, s, p, d, g),
                out=(y.shape[2], y.shape[3]), x=flat(x), weight=flat(wt), bias=flat(b),
                dy=flat(dy), y=flat(y), dx=flat(x64.grad), dweight=flat(w64.grad),
                dbias=flat(b64.grad))


def pool_case(name, kind, n, c, h, w, k, s, p, count_pad=True, one_d=False):
    x = rand(n, c, h, w)
    argmax = []
    if kind == "max":
        xt = x.clone().requires_grad_()
        if one_d:
            y, idx = F.max_pool1d(xt[:, :, 0, :], k[1], s[1], p[1], return_indices=True)
            y, idx = y.unsqueeze(2), idx.unsqueeze(2)
        else:
            y, idx = F.max_pool2d(xt, k, s, p, return_indices=True)
        offs = (torch.arange(c) * h * w).view(1, c, 1, 1)
        argmax = [int(v) for v in (idx + offs).reshape(-1).tolist()]
    else:
        xt = x.double().requires_grad_()
        if one_d:
            y = F.avg_pool1d(xt[:, :, 0, :], k[1], s[1], p[1],
                             count_include_pad=count_pad).unsqueeze(2)
        else:
            y = F.avg_pool2d(xt, k, s, p, count_include_pad=count_pad)
    dy = rand(*y.shape)
    (y * dy.to(y.dtype)).sum().backward()
    return dict(name=name, max=kind == "max", rows=n, shape=(c, h, w, k, s, p, count_pad),
                out=(y.shape[2], y.shape[3]), x=flat(x), dy=flat(dy), y=flat(y),
                argmax=argmax, dx=flat(xt.grad))


def global_max_case(name, n, c, h, w):
    x = rand(n, c, h, w)
    xt = x.clone().requires_grad_()
    y, idx = F.adaptive_max_pool2d(xt, 1, return_indices=True)
    offs = (torch.arange(c) * h * w).view(1, c, 1, 1)
    dy = rand(*y.shape)
    (y * dy).sum().backward()
    return dict(name=name, max=True, rows=n, shape=(c, h, w, (h, w), (h, w), (0, 0), True),
                out=(1, 1), x=flat(x), dy=flat(dy), y=flat(y),
                argmax=[int(v) for v in (idx + offs).reshape(-1).tolist()], dx=flat(xt.grad))


CONV = [
    conv_case("ds_cnn_first_layer", 2, 1, 13, 9, 4, (10, 4), (2, 2), (5, 1), (1, 1), 1),
    conv_case("depthwise_3x3", 2, 3, 6, 5, 3, (3, 3), (1, 1), (1, 1), (1, 1), 3),
    conv_case("depthwise_multiplier_2_stride_2", 1, 2, 7, 6, 4, (3, 3), (2, 2), (1, 1), (1, 1), 2),
    conv_case("grouped_dilated", 2, 4, 7, 8, 6, (2, 3), (1, 2), (1, 0), (2, 1), 2),
    conv_case("conv1d_dilated_strided", 3, 3, 1, 11, 4, (1, 3), (1, 2), (0, 2), (1, 2), 1, True),
    conv_case("conv1d_depthwise", 2, 4, 1, 9, 4, (1, 5), (1, 1), (0, 2), (1, 1), 4, True),
]

POOL = [
    pool_case("avgpool2d_count_pad_false", "avg", 2, 2, 5, 6, (3, 3), (2, 2), (1, 1), False),
    pool_case("avgpool1d_count_pad_false", "avg", 2, 3, 1, 9, (1, 3), (1, 2), (0, 1), False, True),
    pool_case("avgpool1d", "avg", 2, 2, 1, 8, (1, 2), (1, 2), (0, 0), True, True),
    pool_case("maxpool1d_padded", "max", 2, 3, 1, 10, (1, 3), (1, 2), (0, 1), True, True),
    global_max_case("global_maxpool_image", 2, 3, 4, 5),
    global_max_case("global_maxpool_sequence", 2, 2, 1, 7),
]


def f32(v):
    # The shortest text that reads back as the same f32 (numpy's repr of a float32).
    text = str(np.float32(v))
    return text if ("." in text or "e" in text or "inf" in text or "nan" in text) else text + ".0"


def rs_list(v, ty):
    if ty == "f32":
        return "&[" + ", ".join(f32(x) for x in v) + "]"
    return "&[" + ", ".join(str(x) for x in v) + "]"


def pair(t):
    return f"[{t[0]}, {t[1]}]"


out = [
    "// @generated by conv_options_reference.py; do not edit.",
    f"const TORCH_VERSION: &str = \"{torch.__version__}\";",
    "const CONV: &[ConvCase] = &[",
]
for c in CONV:
    ch, h, w, f, k, s, p, d, g = c["shape"]
    out.append(
        f"    ConvCase {{ name: \"{c['name']}\", rows: {c['rows']}, shape: ConvShape {{ "
        f"in_channels: {ch}, height: {h}, width: {w}, filters: {f}, kernel: {pair(k)}, "
        f"stride: {pair(s)}, pad: {pair(p)}, dilation: {pair(d)}, groups: {g} }}, "
        f"out: {pair(c['out'])}, x: {rs_list(c['x'], 'f32')}, weight: {rs_list(c['weight'], 'f32')}, "
        f"bias: {rs_list(c['bias'], 'f32')}, dy: {rs_list(c['dy'], 'f32')}, y: {rs_list(c['y'], 'f32')}, "
        f"dx: {rs_list(c['dx'], 'f32')}, dweight: {rs_list(c['dweight'], 'f32')}, "
        f"dbias: {rs_list(c['dbias'], 'f32')} }},")
out.append("];")
out.append("const POOL: &[PoolCase] = &[")
for c in POOL:
    ch, h, w, k, s, p, cp = c["shape"]
    out.append(
        f"    PoolCase {{ name: \"{c['name']}\", max: {str(c['max']).lower()}, rows: {c['rows']}, "
        f"shape: PoolShape {{ channels: {ch}, height: {h}, width: {w}, kernel: {pair(k)}, "
        f"stride: {pair(s)}, pad: {pair(p)}, count_pad: {str(cp).lower()} }}, out: {pair(c['out'])}, "
        f"x: {rs_list(c['x'], 'f32')}, dy: {rs_list(c['dy'], 'f32')}, y: {rs_list(c['y'], 'f32')}, "
        f"argmax: {rs_list(c['argmax'], 'u32')}, dx: {rs_list(c['dx'], 'f32')} }},")
out.append("];")
with open(os.path.join(HERE, "conv_options_reference_data.rs"), "w") as fh:
    fh.write("\n".join(out) + "\n")
