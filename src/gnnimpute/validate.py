"""Checks of options and results that the CLI and the API share.

Options are checked before any work (a NaN learning rate must not cost a training run), and the
result is checked before anything is written (a NaN matrix must never be reported as success).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from .errors import DivergenceError, InputError

log = logging.getLogger("gnnimpute")

# name: (low, high, low_open, high_open); None = unbounded. Names are the API's; the CLI's are
# the same with dashes.
FLOAT_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "lr": (0.0, None, True, False),
    "lr_factor": (0.0, 1.0, True, True),
    "dropout": (0.0, 1.0, False, True),
    "mask_rate": (0.0, 1.0, True, True),
    "val_rate": (0.0, 1.0, True, True),
    "zero_weight": (0.0, None, False, False),
    "ema_decay": (0.0, 1.0, False, True),
    "detection_shrink": (0.0, 1.0, False, False),
    "attn_dropout": (0.0, 1.0, False, True),
    "weight_decay": (0.0, None, False, False),
    "detection_weight": (0.0, None, False, False),
    "level_mix": (0.0, 1.0, False, False),
}


def check_float(name: str, value: float) -> float:
    """`value` must be a finite number inside the option's range; the message names the option."""
    low, high, low_open, high_open = FLOAT_RANGES[name]
    flag = "--" + name.replace("_", "-")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} ({flag}) must be a number, got {value!r}") from None
    bad = not math.isfinite(value)
    if low is not None:
        bad |= value <= low if low_open else value < low
    if high is not None:
        bad |= value >= high if high_open else value > high
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        span = (
            f"{lo}{low if low is not None else '-inf'}, {high if high is not None else 'inf'}{hi}"
        )
        raise InputError(f"{name} ({flag}) must be a finite number in {span}, got {value}")
    return value


def effective_detection_k(detection_k: int, n_cells: int) -> int:
    """Clamp the detection neighbourhood to the cells there are, and say so.

    `--detection-k` has a default (15) the user may never have set; with 10 cells and `--k 5`
    the README promises k + 1 cells suffice, so the neighbourhood shrinks instead of failing.
    """
    if detection_k <= n_cells - 1:
        return detection_k
    used = max(1, n_cells - 1)
    log.warning(
        "--detection-k %d needs more than %d cells; using %d (recorded in uns)",
        detection_k,
        detection_k,
        used,
    )
    return used


def check_output(imputed: np.ndarray, embedding: np.ndarray) -> None:
    """Refuse a result with NaN, infinite or negative values: it is broken, not a success."""
    bad = int(np.count_nonzero(~np.isfinite(imputed)))
    neg = int(np.count_nonzero(imputed < 0))
    bad_emb = int(np.count_nonzero(~np.isfinite(embedding)))
    if bad or neg or bad_emb:
        raise DivergenceError(
            f"training diverged: the imputed matrix has {bad} non-finite and {neg} negative "
            f"values ({bad_emb} non-finite in the embedding); nothing was written. Likely "
            "cause: a learning rate too high (try a smaller --lr) or extreme counts"
        )
