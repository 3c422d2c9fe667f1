"""Estimate the peak memory of a run before the heavy work, and refuse one that cannot fit.

Being OOM-killed after an hour tells a user nothing; a one-line refusal up front says what to
change. The estimate is a sum of terms, each the size of one array the run holds at its peak,
with constants measured on PBMC- and Baron-resampled data (docs/scale.md); it errs high.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .errors import InputError
from .options import DEFAULTS

LIMIT_ENV = "GNNIMPUTE_MEMORY_LIMIT"  # e.g. "8G": caps what the guard treats as available
BASE_BYTES = 0.6 * 1024**3  # interpreter, torch, scanpy and friends once imported
BYTES_PER_NNZ = (
    80  # counts in 4 sparse copies (X, target, log-norm, PCA's copy) + per-entry training arrays
)
# Bytes per cell that training holds at its peak (full batch), per unit of the sizes below.
ACTIVATION_FLOATS_PER_CELL = 6  # times heads*hidden0 + hidden0 + gene_batch + n_input, float32


@dataclass(frozen=True)
class Estimate:
    """Peak bytes and where they come from."""

    total: int
    parts: dict

    def describe(self) -> str:
        return ", ".join(f"{k} {v / 1024**3:.1f}" for k, v in self.parts.items() if v > 0)


def estimate_peak(
    n_cells: int,
    n_genes: int,
    nnz: int,
    *,
    n_input: int = DEFAULTS.model.n_input,
    hidden: tuple[int, int] = DEFAULTS.model.hidden,
    heads: int = DEFAULTS.model.heads,
    gene_batch: int = DEFAULTS.training.gene_batch,
    k: int = DEFAULTS.graph.k,
    predict_draws: int = DEFAULTS.output.predict_draws,
    batch_cells: int = 0,
    loss_cells: int = 0,
    streamed: bool = False,
    n_dense_layers: int = 1,
) -> Estimate:
    """Peak resident bytes of `impute` for this input and these options."""
    train_cells = n_cells if not batch_cells else min(n_cells, _subgraph_cells(batch_cells, k))
    # mini-batches decode their seeds, full batch its scored cells (every cell, or a sample)
    decoded_cells = batch_cells or loss_cells or n_cells
    per_float = ACTIVATION_FLOATS_PER_CELL * 4
    training = per_float * (
        train_cells * (heads * hidden[0] + n_input)
        + min(train_cells, decoded_cells) * (hidden[0] + min(gene_batch, n_genes))
    )
    dense = n_cells * n_genes * 4 * n_dense_layers
    parts = {
        "base": int(BASE_BYTES),
        "sparse counts": int(BYTES_PER_NNZ * nnz),
        "training": int(training),
        # draws keep cells x hidden[1] each; the graph costs ~ (2k + 1) edges per cell
        "prediction": int(
            n_cells * (4 * hidden[1] * max(1, predict_draws) + 3 * 4 * heads * hidden[0])
        ),
        "graph": int(n_cells * (2 * k + 1) * 8 * 6),
        "dense output": 2 * 2048 * n_genes * 4 * n_dense_layers if streamed else dense,
    }
    # training and prediction + output happen one after the other: the peak is the larger
    phases = max(parts["training"], parts["prediction"] + parts["dense output"])
    total = parts["base"] + parts["sparse counts"] + parts["graph"] + phases
    return Estimate(int(total), parts)


def _subgraph_cells(batch_cells: int, k: int) -> int:
    """Cells in the 2-hop subgraph of `batch_cells` seeds drawn as kNN clusters.

    Neighbours mostly share a cluster, so the halo adds about 1-2x the seeds; 4x errs high.
    """
    return batch_cells * 4


def available_bytes() -> int | None:
    """Peak this process may reach: its RSS plus the smaller of MemAvailable and the cgroup's
    room, capped by GNNIMPUTE_MEMORY_LIMIT. None when nothing is known."""
    from .progress import rss_bytes

    limits = []
    env = os.environ.get(LIMIT_ENV)
    if env:
        limits.append(parse_size(env))
    own = rss_bytes()  # what this process already holds counts towards its peak, not against it
    for room in (_meminfo_available(), _cgroup_room()):
        if room is not None:
            limits.append(room + own)
    return min(limits) if limits else None


def parse_size(text: str) -> int:
    """'8G', '512M', '2.5GiB' or a byte count -> bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if not m:
        raise InputError(f"{LIMIT_ENV} must look like 8G or 512M, got {text!r}")
    scale = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}[m.group(2)]
    return int(float(m.group(1)) * scale)


def check_memory(estimate: Estimate, *, advice: str) -> None:
    """Raise a one-line InputError when the estimate exceeds what is available."""
    avail = available_bytes()
    if avail is None or estimate.total <= avail:
        return
    raise InputError(
        f"estimated peak memory {estimate.total / 1024**3:.1f} GiB exceeds the "
        f"{avail / 1024**3:.1f} GiB available ({estimate.describe()} GiB); {advice}"
    )


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _cgroup_room() -> int | None:
    """cgroup v2 (memory.max - memory.current) or v1 (limit - usage); None when unlimited."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            with open(limit_file) as f:
                raw = f.read().strip()
            if raw == "max" or int(raw) >= 1 << 60:
                return None
            with open(usage_file) as f:
                return int(raw) - int(f.read().strip())
        except (OSError, ValueError):
            continue
    return None
