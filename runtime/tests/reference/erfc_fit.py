#!/usr/bin/env python3
"""The Chebyshev coefficients of the complementary error function behind `Activation::Gelu`.

Run with any Python that has mpmath (no torch needed):

    python3 erfc_fit.py

For z >= 0 the runtime computes, in f64,

    erfc(z) = t * exp(g(t) - z^2),   t = 1 / (1 + z/2) in (0, 1],

with g(t) = ln(erfc(z)) + z^2 - ln(t) a smooth function on [0, 1] (g(0) = -ln(2 sqrt(pi)), the
limit of the asymptotic series), summed as a Chebyshev series in u = 2t - 1 (the substitution of
Numerical Recipes' `erfcc`, with more terms). An absolute error e in g is a relative error e in
erfc, for every z including the far tail, where GELU's Phi(x) = erfc(-x/sqrt 2)/2 is tiny.

The script interpolates g at Chebyshev nodes with 50 significant digits, keeps the first TERMS
coefficients, prints them as the Rust constant and measures the relative error of erfc evaluated
in double precision, exactly as the runtime does, against mpmath on a grid of z in [0, 26] with
step 0.001 (erfc(26) ~ 6e-296; beyond z ~ 26.5 erfc is a subnormal double, and f32 GELU
values are subnormal below x ~ -13.15 and round to zero below x ~ -14.36, z ~ 10.2).
"""

import mpmath as mp

mp.mp.dps = 50
NODES = 48
TERMS = 18


def g(t):
    t = mp.mpf(t)
    if t == 0:
        return -mp.log(2 * mp.sqrt(mp.pi))
    z = 2 / t - 2
    return mp.log(mp.erfc(z)) + z * z - mp.log(t)


nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / NODES) for k in range(NODES)]
values = [g((u + 1) / 2) for u in nodes]
coeffs = [
    2 * sum(v * mp.cos(mp.pi * j * (k + mp.mpf(1) / 2) / NODES) for k, v in enumerate(values))
    / NODES
    for j in range(NODES)
]
kept = [float(c) for c in coeffs[:TERMS]]


def erfc_f64(z):
    """The runtime's evaluation, in Python floats (IEEE double)."""
    import math

    t = 1.0 / (1.0 + 0.5 * z)
    u = 2.0 * t - 1.0
    b1 = b2 = 0.0
    for c in reversed(kept[1:]):
        b1, b2 = 2.0 * u * b1 - b2 + c, b1
    return t * math.exp(0.5 * kept[0] + u * b1 - b2 - z * z)


worst = max(
    abs(erfc_f64(z) / mp.erfc(z) - 1) for z in (i / 1000 for i in range(0, 26001))
)
print(f"// Chebyshev coefficients from erfc_fit.py: {TERMS} of {NODES}, the first dropped one is "
      f"{mp.nstr(coeffs[TERMS], 3)}; erfc relative error <= {mp.nstr(worst, 2)} on z in [0, 26].")
print(f"const ERFC_CHEBYSHEV: [f64; {TERMS}] = [")
for c in kept:
    print(f"    {c!r},")
print("];")
