"""How the default layer combines the hurdle decoder's level and P(detected).

The level (what a gene measures where it is detected) is what the masking benchmark rewards; the
expected value, level x P(detected), is what clustering and molecular cross-validation reward.
A blend is a multiplier g(p) on the level:

- ``level``: g = 1;
- ``expected``: g = p;
- ``power:x``: g = p ** x (0 < x; 1 is ``expected``);
- ``gate:a,b``: g = sigmoid(a (p - b)), a sharp step that sends genes a context does not
  express towards 0 and keeps the level where the detection probability clears b.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError


def parse_blend(spec: str) -> tuple[str, tuple[float, ...]]:
    """'gate:40,0.1' -> ('gate', (40.0, 0.1)); refuses unknown shapes and bad numbers."""
    name, _, args = str(spec).partition(":")
    try:
        values = tuple(float(v) for v in args.split(",")) if args else ()
    except ValueError:
        raise InputError(f"blend {spec!r}: arguments must be numbers") from None
    expected = {"level": 0, "expected": 0, "power": 1, "gate": 2}
    if name not in expected:
        raise InputError(f"blend {spec!r}: choose level, expected, power:x or gate:a,b")
    if len(values) != expected[name] or not all(np.isfinite(values)):
        raise InputError(f"blend {spec!r}: {name} takes {expected[name]} number(s)")
    if name == "power" and values[0] <= 0:
        raise InputError(f"blend {spec!r}: the power must be > 0")
    return name, values


def blend_factor(p: np.ndarray, spec: str) -> np.ndarray:
    """g(p), float32, the multiplier of the level (in [0, 1])."""
    name, args = parse_blend(spec)
    p = np.asarray(p, dtype=np.float32)
    if name == "level":
        return np.ones_like(p)
    if name == "expected":
        return p.copy()
    if name == "power":
        return np.power(p, np.float32(args[0]))
    a, b = args
    return (1.0 / (1.0 + np.exp(-np.float32(a) * (p - np.float32(b))))).astype(np.float32)


def blend(level: np.ndarray, p: np.ndarray, spec: str, chunk: int = 2048) -> np.ndarray:
    """level x g(p), computed in cell chunks into a new float32 array."""
    out = np.empty(level.shape, dtype=np.float32)
    for start in range(0, level.shape[0], chunk):
        rows = slice(start, start + chunk)
        out[rows] = level[rows] * blend_factor(p[rows], spec)
    return out
