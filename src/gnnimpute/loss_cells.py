"""Score the loss on a random sample of cells when the graph is large (full-batch training).

At 100k cells a full-batch epoch spent most of its time in the decoder: two dense cells x
gene-batch products (level and detection) and their element-wise loss terms, all for one
optimizer step. The encoder must run on the whole graph, but both loss terms are means over
cells, so a random sample of cells estimates them without bias and the decoder only runs on the
sample. Each epoch draws a fresh sample; validation keeps one fixed sample, so its losses compare
from epoch to epoch. Below the sample size nothing changes: every cell is scored.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import InputError

AUTO_LOSS_CELLS = {"cpu": 16_384, "cuda": 0}  # a GPU decodes every cell faster than it samples


def resolve_loss_cells(choice: int | str | None, n_cells: int, device: torch.device) -> int:
    """0 (score every cell) or the number of cells scored per epoch."""
    if choice == "auto":
        value = AUTO_LOSS_CELLS["cuda" if torch.device(device).type == "cuda" else "cpu"]
    elif choice is None:
        value = 0
    else:
        try:
            value = int(choice)
        except (TypeError, ValueError):
            raise InputError(
                f"loss_cells must be an integer, 0 or 'auto', got {choice!r}"
            ) from None
        if value < 0:
            raise InputError(f"loss_cells must be >= 0, got {value}")
    return 0 if value >= n_cells else value


class LossCells:
    """Draws cell samples and restricts the loss to their entries (rows renumbered in sample order)."""

    def __init__(self, entries, loss_fn, n_cells: int, n_sample: int, rng: np.random.Generator):
        self.entries, self.loss_fn, self.rng = entries, loss_fn, rng
        self.n_cells, self.n_sample = n_cells, n_sample
        # The detection term reads the sampled rows of the observed pattern: keep it by rows only.
        # Every loss is then taken through `view`, so the column copy goes (a sparse copy of the
        # matrix at atlas scale).
        self.pattern = loss_fn.observed.tocsr() if loss_fn.observed is not None else None
        loss_fn.observed = None
        self.n_entries = max(entries.rows.size, 1)

    def draw(self) -> np.ndarray:
        """A sorted sample of cells, without replacement."""
        return np.sort(self.rng.choice(self.n_cells, self.n_sample, replace=False))

    def view(self, cells: np.ndarray, idx: np.ndarray):
        """The loss on the entries `idx` that fall in `cells`, and their positions in the view.

        Zeros of the detection term are weighted by the share of non-zeros that `idx` hides across
        all cells, as when every cell is scored.
        """
        from .train_batch import batch_view

        local = np.full(self.n_cells, -1, dtype=np.int64)
        local[cells] = np.arange(cells.size)
        chosen = idx[local[self.entries.rows[idx]] >= 0]
        view = batch_view(self.loss_fn, self.entries, chosen, local, seeds=cells,
                          pattern=self.pattern, share=idx.size / self.n_entries)  # fmt: skip
        return view, np.arange(chosen.size)
