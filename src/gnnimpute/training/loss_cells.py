"""Score the loss on a random sample of cells when the graph is large (full-batch training).

At 100k cells a full-batch epoch spent most of its time in the decoder: two dense cells x
gene-batch products (level and detection) and their element-wise loss terms, all for one
optimizer step. The encoder must run on the whole graph, but the loss terms are averages over
cells and their entries, so a random sample of cells estimates them (the per-cell terms without
bias, the mean over hidden entries as a ratio of sums) and the decoder only runs on the sample;
its BatchNorm then sees the sample's statistics, a random sample's. Each epoch draws a fresh
sample; validation keeps one fixed sample, so its losses compare from epoch to epoch. Below the
sample size nothing changes: every cell is scored.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError
from .config import parse_cell_count
from .loss import cells_view

AUTO_LOSS_CELLS = {"cpu": 16_384, "cuda": 0}  # a GPU decodes every cell faster than it samples
MIN_LOSS_CELLS = 64  # fewer makes the decoder's BatchNorm and the validation sample meaningless


def resolve_loss_cells(choice: int | str | None, n_cells: int, device: torch.device) -> int:
    """0 (score every cell) or the number of cells scored per epoch."""
    if choice is None:
        return 0
    if choice == "auto":
        value = AUTO_LOSS_CELLS["cuda" if torch.device(device).type == "cuda" else "cpu"]
    else:
        value = parse_cell_count(choice, "loss_cells")
        if 0 < value < MIN_LOSS_CELLS:
            raise InputError(f"loss_cells must be 0 or at least {MIN_LOSS_CELLS}, got {value}")
    return 0 if value >= n_cells else value


class LossCells:
    """Draws cell samples and restricts the loss to their entries (rows renumbered in sample order).

    Takes a by-rows copy of the loss's observed pattern (the detection and zero terms read the
    sampled rows); the caller may then drop the loss's by-columns copy.
    """

    def __init__(self, entries, loss_fn, n_cells: int, n_sample: int, rng: np.random.Generator):
        self.entries, self.loss_fn, self.rng = entries, loss_fn, rng
        self.n_cells, self.n_sample = n_cells, n_sample
        self.pattern = loss_fn.observed.tocsr() if loss_fn.observed is not None else None
        self.n_entries = max(entries.rows.size, 1)

    def draw(self) -> np.ndarray:
        """A sorted sample of cells, without replacement."""
        return np.sort(self.rng.choice(self.n_cells, self.n_sample, replace=False))

    def view(self, cells: np.ndarray, idx: np.ndarray):
        """The loss on the entries `idx` that fall in `cells` (all of the view's entries).

        Zeros of the detection term are weighted by the share of non-zeros that `idx` hides across
        all cells, as when every cell is scored.
        """
        in_sample = np.zeros(self.n_cells, dtype=bool)
        in_sample[cells] = True
        chosen = idx[in_sample[self.entries.rows[idx]]]
        return cells_view(self.loss_fn, self.entries, chosen, cells, self.n_cells,
                          pattern=self.pattern, share=idx.size / self.n_entries,
                          zero_term=True)  # fmt: skip
