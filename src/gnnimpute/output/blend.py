"""How the default layer combines the hurdle decoder's level and P(detected).

The level (what a gene measures where it is detected) is what the masking benchmark rewards; the
expected value, level x P(detected), is what clustering and molecular cross-validation reward.
A blend is a multiplier g(p) on the level:

- ``level``: g = 1;
- ``expected``: g = p;
- ``power:x``: g = p ** x (0 < x; 1 is ``expected``);
- ``gate:a,b``: g = sigmoid(a (p - b)), a sharp step that sends genes a context does not
  express towards 0 and keeps the level where the detection probability clears b.

``keep:SPEC`` (e.g. ``keep:expected``) keeps every observed non-zero (normalized count) as it
is and fills only the observed zeros with level x g(p) of SPEC. The observed values carry most
of what clustering uses, so such a layer stays close to the normalized counts there and adds
the model's estimate only where the data say nothing.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import InputError

KEEP = "keep:"


def split_keep(spec: str) -> tuple[bool, str]:
    """'keep:expected' -> (True, 'expected'); 'gate:40,0.1' -> (False, 'gate:40,0.1')."""
    spec = str(spec)
    return (True, spec[len(KEEP) :]) if spec.startswith(KEEP) else (False, spec)


def parse_blend(spec: str) -> tuple[str, tuple[float, ...]]:
    """'gate:40,0.1' -> ('gate', (40.0, 0.1)); refuses unknown shapes and bad numbers.

    A ``keep:`` prefix is accepted and left to `blend` (the shape returned is SPEC's)."""
    _, spec = split_keep(spec)
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
    if split_keep(spec)[0]:
        raise ValueError(f"blend_factor({spec!r}): a keep: blend needs the observed values")
    p = np.asarray(p, dtype=np.float32)
    if name == "level":
        return np.ones_like(p)
    if name == "expected":
        return p.copy()
    if name == "power":
        return np.power(p, np.float32(args[0]))
    a, b = args
    return (1.0 / (1.0 + np.exp(-np.float32(a) * (p - np.float32(b))))).astype(np.float32)


def blend(
    level: np.ndarray, p: np.ndarray, spec: str, chunk: int = 2048, observed=None
) -> np.ndarray:
    """level x g(p), computed in cell chunks into a new float32 array.

    With ``keep:SPEC``, `observed` (the normalized counts, dense or sparse, same shape) is kept
    wherever it is non-zero and level x g(p) of SPEC fills the rest.
    """
    keep, inner = split_keep(spec)
    if keep and (observed is None or observed.shape != level.shape):
        raise ValueError(f"blend {spec!r} needs the observed values, of shape {level.shape}")
    out = np.empty(level.shape, dtype=np.float32)
    for start in range(0, level.shape[0], chunk):
        rows = slice(start, start + chunk)
        out[rows] = level[rows] * blend_factor(p[rows], inner)
        if keep:
            _keep_observed(out[rows], observed[rows])
    return out


def _keep_observed(block: np.ndarray, observed) -> None:
    """block[observed != 0] = observed there, in place (observed dense or sparse)."""
    if sp.issparse(observed):
        coo = sp.coo_matrix(observed)
        nz = coo.data != 0
        block[coo.row[nz], coo.col[nz]] = coo.data[nz]
    else:
        observed = np.asarray(observed)
        np.copyto(block, observed, where=observed != 0)
