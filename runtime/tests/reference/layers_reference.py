#!/usr/bin/env python3
"""Reference outputs and gradients of nn.GELU, nn.SiLU and nn.LayerNorm for netspec-runtime.

Run from the repository root with a PyTorch environment:

    /tmp/torchenv-layers/bin/python runtime/tests/reference/layers_reference.py \
        > runtime/tests/reference/layers_reference_data.rs

It prints the cases as Rust constants, `include!`d by runtime/tests/layers_reference.rs.

Inputs are drawn from a seeded torch generator and rounded to f32; each case has a fixed
upstream gradient `dy`, and torch's forward output and gradients of the loss sum(y * dy) are
evaluated in float64 from the exact values of the f32 inputs, so the Rust test measures the f32
kernels' own error. A comment in the output records how far torch's own float32 evaluation is
from its float64 one on the same cases, in units of the Rust test's tolerance.

Activations: a grid over [-10, 10] with small, large and infinite values added (gelu(-inf),
silu(-inf) and the derivatives at +-inf are NaN in torch: inf * 0). nn.GELU in float64 computes
1 + erf(x / sqrt 2), which is 0 once erf rounds to -1 (x < -8.3 or so): its tail values are 0
where the true ones are tiny (-7.6e-23 at x = -10), inside the test's absolute floor.

LayerNorm: nn.LayerNorm(features, eps) with non-trivial weight and bias, default eps 1e-5 and a
custom one, one feature (y = bias, dx = 0), a constant row (variance 0) and rows far from 0.
"""

import json

import numpy as np
import torch
import torch.nn as nn

gen = torch.Generator().manual_seed(20240617)


def rand(*shape, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).float()


def flat(t):
    return [float(v) for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def f32_literal(v):
    if np.isnan(v):
        return "f32::NAN"
    if np.isinf(v):
        return "f32::INFINITY" if v > 0 else "f32::NEG_INFINITY"
    # The shortest decimal that rounds back to the same f32 (clippy rejects longer ones).
    text = str(np.float32(v))
    return text if any(ch in text for ch in ".e") else text + ".0"


def fl(values):
    return "&[" + ", ".join(f32_literal(v) for v in values) + "]"


def tolerance_units(a, b):
    """max |a - b| / max(1e-5 |b|, 1e-6), the Rust test's tolerance: it passes below 1.

    Over finite b; NaN and infinities must sit at the same places."""
    a, b = a.double(), b.double()
    assert torch.equal(torch.isnan(a), torch.isnan(b)) and torch.equal(a.isinf(), b.isinf())
    ok = torch.isfinite(b)
    return float(((a - b).abs() / (1e-5 * b.abs()).clamp_min(1e-6))[ok].max())


f32_vs_f64 = {}


def activation_case(name, module):
    grid = torch.linspace(-10, 10, 161, dtype=torch.float64)
    extra = [-100.0, -30.0, -20.0, -15.0, -13.0, -1e-3, -1e-6, 0.0, 1e-6, 1e-3, 13.0, 20.0,
             100.0, float("-inf"), float("inf")]
    x = torch.cat([grid, torch.tensor(extra, dtype=torch.float64)]).float()
    dy = rand(x.numel())
    out = {}
    for dtype in (torch.float32, torch.float64):
        xt = x.detach().to(dtype, copy=True).requires_grad_()
        y = module(xt)
        (y * dy.to(dtype)).sum().backward()
        out[dtype] = (y.detach(), xt.grad)
    f32_vs_f64[name] = [tolerance_units(out[torch.float32][i], out[torch.float64][i]) for i in (0, 1)]
    y, dx = out[torch.float64]
    return {"name": name, "x": flat(x), "dy": flat(dy), "y": flat(y), "dx": flat(dx)}


def layernorm_case(name, rows, features, eps, x):
    eps = float(np.float32(eps))  # the f32 the runtime gets
    norm = nn.LayerNorm(features, eps=eps)
    # PyTorch's initial affine parameters, which the runtime's caller reproduces.
    assert torch.equal(norm.weight, torch.ones(features))
    assert torch.equal(norm.bias, torch.zeros(features))
    gamma, beta = 1.0 + rand(features, scale=0.5), rand(features, scale=0.5)
    dy = rand(rows, features)
    out = {}
    for dtype in (torch.float32, torch.float64):
        norm = nn.LayerNorm(features, eps=eps, dtype=dtype)
        with torch.no_grad():
            norm.weight.copy_(gamma)
            norm.bias.copy_(beta)
        xt = x.detach().to(dtype, copy=True).requires_grad_()
        y = norm(xt)
        (y * dy.to(dtype)).sum().backward()
        out[dtype] = (y.detach(), xt.grad, norm.weight.grad, norm.bias.grad)
    f32_vs_f64[name] = [tolerance_units(a, b) for a, b in zip(out[torch.float32], out[torch.float64])]
    y, dx, dgamma, dbeta = out[torch.float64]
    return {"name": name, "rows": rows, "features": features, "eps": eps, "x": flat(x),
            "gamma": flat(gamma), "beta": flat(beta), "dy": flat(dy), "y": flat(y),
            "dx": flat(dx), "dgamma": flat(dgamma), "dbeta": flat(dbeta)}


activations = [activation_case("gelu", nn.GELU()), activation_case("silu", nn.SiLU())]

offset = rand(3, 6)
offset[0] = 1.5  # a constant row: variance 0, x_hat 0
offset[1] += 1000.0  # far from 0: the mean must be subtracted before squaring
offset[2] = offset[2] * 1e-3 - 20.0
layernorms = [
    layernorm_case("eps_default", 4, 7, 1e-5, rand(4, 7, scale=2.0)),
    layernorm_case("eps_0_1_small_inputs", 3, 5, 0.1, rand(3, 5, scale=0.2)),
    layernorm_case("one_feature", 3, 1, 1e-5, rand(3, 1)),
    layernorm_case("constant_and_offset_rows", 3, 6, 1e-5, offset),
    layernorm_case("features_64", 2, 64, 1e-5, rand(2, 64) + 0.5),
]

out = ["// Generated by layers_reference.py from PyTorch; do not edit.",
       f"const TORCH_VERSION: &str = {json.dumps(torch.__version__)};",
       "// torch float32 against float64 on these cases, max |f32 - f64| / max(1e-5 |f64|, 1e-6)",
       "// (the test's tolerance: below 1 would pass) of (y, dx) for the activations and",
       "// (y, dx, dgamma, dbeta) for layer norm:"]
for name, diffs in f32_vs_f64.items():
    out.append(f"//   {name}: " + ", ".join(f"{d:.1e}" for d in diffs))
out.append("")
out.append("const ACTIVATIONS: &[ActivationCase] = &[")
for c in activations:
    out.append(
        f"    ActivationCase {{ name: {json.dumps(c['name'])}, x: {fl(c['x'])}, "
        f"dy: {fl(c['dy'])}, y: {fl(c['y'])}, dx: {fl(c['dx'])} }},")
out.append("];\n")
out.append("const LAYER_NORMS: &[LayerNormCase] = &[")
for c in layernorms:
    out.append(
        f"    LayerNormCase {{ name: {json.dumps(c['name'])}, rows: {c['rows']}, "
        f"features: {c['features']}, eps: {f32_literal(c['eps'])}, x: {fl(c['x'])}, "
        f"gamma: {fl(c['gamma'])}, beta: {fl(c['beta'])}, dy: {fl(c['dy'])}, "
        f"y: {fl(c['y'])}, dx: {fl(c['dx'])}, dgamma: {fl(c['dgamma'])}, "
        f"dbeta: {fl(c['dbeta'])} }},")
out.append("];")
print("\n".join(out))
