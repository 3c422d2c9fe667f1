"""The training loss: MSE at hidden entries on a gene batch (plus the zero and detection terms), and its restriction to chosen cells."""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp
import torch

from ..errors import InputError
from .entries import ObservedEntries
from .losses import detection_bce, level_scale

PINNED_ZEROS_MAX = 1 << 24  # floats (64 MB): largest zero pattern validation keeps between epochs


class GeneBatchLoss:
    """MSE at hidden entries, estimated on a gene batch through one dense (cells x batch) product.

    A dense product over a gene batch is an order of magnitude faster on CPU than gathering a
    weight row per entry, and keeps memory at cells x batch floats. The genes that carry most of
    the squared signal are in every batch; the rest are sampled and up-weighted, so the estimate
    of the all-gene MSE stays unbiased while its variance drops.
    """

    def __init__(
        self,
        entries: ObservedEntries,
        target: sp.csr_matrix,
        batch_size: int,
        device: torch.device,
        *,
        zero_weight: float = 0.0,
        mask_rate: float = 0.1,
        detection_weight: float = 0.0,
    ):
        n_genes = target.shape[1]
        self.entries = entries
        self.n_genes = n_genes
        # only the zero and detection terms read it: a sparse cells x genes copy is not free at
        # atlas scale
        needs_pattern = zero_weight > 0 or detection_weight > 0
        self.observed = sp.csc_matrix(target != 0, dtype=np.float32) if needs_pattern else None
        # A zero is scored every epoch, a non-zero only when hidden (probability mask_rate), so
        # scaling zeros by mask_rate makes zero_weight the weight of a zero relative to a non-zero.
        self.zero_coef = zero_weight * mask_rate
        # Hurdle decoder: weight of the detection cross-entropy, on the level loss's scale.
        self.detection_coef = detection_weight * level_scale(entries.cols, entries.values, n_genes)
        self.device = device
        batch_size = min(batch_size, n_genes)
        mass = np.bincount(
            entries.cols, weights=entries.values.astype(np.float64) ** 2, minlength=n_genes
        )
        n_fixed = batch_size // 4 if batch_size < n_genes else n_genes
        self.fixed = np.sort(np.argsort(-mass, kind="stable")[:n_fixed])
        self.others = np.setdiff1d(np.arange(n_genes), self.fixed)
        self.n_sampled = batch_size - n_fixed
        self._bind(entries, self.observed, None)

    def _bind(self, entries, observed: sp.spmatrix | None, hidden_share: float | None) -> None:
        """Set what this loss scores, with caches of its own: nothing built for one entry set or
        zero pattern is ever served to another."""
        self.entries, self.observed = entries, observed
        # share of observed non-zeros hidden in the scored input; None: idx's share of entries
        self.hidden_share = hidden_share
        self._entry_tensors: tuple | None = None  # (rows, cols, values) on the device
        self._pattern_tensors: tuple | None = None  # (CSC indptr, CSC row indices) on the device
        self._pinned_zeros: tuple | None = None  # (genes, zeros) kept by pin_zeros

    def restrict(self, entries, observed: sp.spmatrix | None, hidden_share: float) -> GeneBatchLoss:
        """This loss (its gene batches, weights and coefficients) on other entries and zero
        pattern: a mini-batch's seeds or a sample of cells, rows renumbered by the caller."""
        restricted = copy.copy(self)  # the settings are shared and never changed
        restricted._bind(entries, observed, hidden_share)
        return restricted

    @classmethod
    def for_config(cls, entries: ObservedEntries, target: sp.csr_matrix, config, device):
        """The loss a `TrainConfig` asks for (gene batch, zero and detection weights, mask rate)."""
        return cls(
            entries,
            target,
            config.gene_batch,
            device,
            zero_weight=config.zero_weight,
            mask_rate=config.mask_rate,
            detection_weight=config.detection_weight,
        )

    def sample_genes(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A gene batch, sorted, and each gene's weight (1 for fixed genes, n_others / n_sampled
        otherwise). Sorted, the batch's entries keep their (row, column) order in its columns."""
        sampled = (
            rng.choice(self.others, size=self.n_sampled, replace=False) if self.n_sampled else []
        )
        genes = np.concatenate([self.fixed, np.asarray(sampled, dtype=np.int64)])
        weights = np.ones(genes.size, dtype=np.float32)
        if self.n_sampled:
            weights[self.fixed.size :] = self.others.size / self.n_sampled
        order = np.argsort(genes, kind="stable")
        return genes[order], weights[order]

    def __call__(
        self,
        model,
        h: torch.Tensor,
        idx: np.ndarray | torch.Tensor,
        genes: np.ndarray,
        weights: np.ndarray,
    ) -> torch.Tensor:
        """Loss at entries `idx` (host array, or a tensor already on the device) for a gene batch."""
        return self.score(model, h, self.pin(idx, genes, weights))

    def pin(self, idx, genes: np.ndarray, weights: np.ndarray) -> PinnedBatch:
        """Where entries `idx` fall in a gene batch, found once: validation scores the same batch
        every epoch, and finding it again took ~5 ms of a Baron epoch."""
        return PinnedBatch(genes, *self._batch_entries(idx, genes, weights))

    def score(self, model, h: torch.Tensor, batch: PinnedBatch) -> torch.Tensor:
        """The loss on a batch found by `pin`."""
        genes_t, gene_w, rows, cols, values, w, n_idx = batch.tensors
        genes = batch.genes
        if self.zero_coef > 0:  # the zero term reads the whole block
            out = model.decode_genes(h, genes_t)
            predicted = out[rows, cols]
        else:  # only the hidden entries: a few percent of the block
            predicted = model.decode_entries(h, genes_t, rows, cols)
        loss = torch.sum(w * (predicted - values) ** 2)
        detect = self.detection_coef > 0 and getattr(model, "det", None) is not None
        zeros = None
        if self.zero_coef > 0 or detect:
            zeros = self._pinned(genes)
            zeros = self._observed_zeros(genes_t) if zeros is None else zeros
        if self.zero_coef > 0:
            loss = loss + self.zero_coef * torch.sum(gene_w * zeros * out**2)
        loss = loss / max(n_idx, 1)
        if detect:
            bce = detection_bce(
                model.detect_genes(h, genes_t),
                zeros,
                rows,
                cols,
                w,
                gene_w,
                self.hidden_share
                if self.hidden_share is not None
                else n_idx / max(self.entries.rows.size, 1),
            )
            loss = loss + self.detection_coef * bce
        return loss

    def _batch_entries(self, idx, genes: np.ndarray, weights: np.ndarray) -> tuple:
        """The gene batch and its weights as tensors, and the entries of `idx` that fall in it:
        rows, batch columns, values and weights, and the number of entries in `idx`."""
        dev = self.device
        all_rows, all_cols, all_values = self._entries_on_device()
        idx = torch.as_tensor(idx, device=dev)
        genes_t = torch.as_tensor(genes, device=dev)
        gene_w = torch.as_tensor(weights, device=dev)
        local = torch.full((self.n_genes,), -1, dtype=torch.int64, device=dev)
        local[genes_t] = torch.arange(genes_t.numel(), device=dev)
        pos = local[all_cols[idx].long()]
        keep = pos >= 0
        cols = pos[keep]
        values = all_values[idx][keep]
        return genes_t, gene_w, all_rows[idx][keep].long(), cols, values, gene_w[cols], idx.numel()

    def _entries_on_device(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """rows, cols, values as tensors: shared memory on the CPU, one copy per entry set on a GPU."""
        if self._entry_tensors is None:
            e = self.entries
            self._entry_tensors = tuple(
                torch.as_tensor(a, device=self.device) for a in (e.rows, e.cols, e.values)
            )
        return self._entry_tensors

    def pin_zeros(self, genes: np.ndarray) -> None:
        """Keep the zero pattern of a gene batch that is scored every epoch (validation's), when
        it is small: rebuilding it each epoch was ~5 % of a Baron epoch."""
        needed = self.observed is not None and (self.zero_coef > 0 or self.detection_coef > 0)
        if needed and self.observed.shape[0] * len(genes) <= PINNED_ZEROS_MAX:
            zeros = self._observed_zeros(torch.as_tensor(genes, device=self.device))
            self._pinned_zeros = (np.array(genes), zeros)

    def _pinned(self, genes: np.ndarray) -> torch.Tensor | None:
        """The pinned zero pattern when `genes` is its batch (compared on the host: no GPU sync)."""
        pinned = self._pinned_zeros
        if pinned is not None and np.array_equal(pinned[0], genes):
            return pinned[1]
        return None

    def _observed_zeros(self, genes: torch.Tensor) -> torch.Tensor:
        """1 at the observed zeros of the gene batch (cells x batch), built where the model is.

        Scatters the batch genes' non-zeros from the pattern's CSC arrays, kept as tensors (on a
        GPU: on the device, so no dense block of the pattern crosses the bus each epoch). It is
        row-major, as the logits are: a column-major block (scipy's CSC slice had that layout)
        made every element-wise pass of the detection loss stride across both.
        """
        cpu = self.device.type == "cpu"
        if cpu and self.observed.format != "csc":  # a view's rows (mini-batch, cell sample)
            return 1.0 - torch.as_tensor(self.observed[:, genes.numpy()].toarray())
        if self._pattern_tensors is None:
            csc = self.observed.tocsc()  # no copy when it is one already
            self._pattern_tensors = (
                torch.as_tensor(csc.indptr.astype(np.int64), device=self.device),
                torch.as_tensor(csc.indices, device=self.device),
            )
        indptr, row_index = self._pattern_tensors
        return scatter_zeros(indptr, row_index, genes, self.observed.shape[0])


class PinnedBatch:
    """A gene batch and the entries that fall in it, as tensors (`GeneBatchLoss.pin`)."""

    def __init__(self, genes: np.ndarray, *tensors):
        self.genes, self.tensors = genes, tensors


def scatter_zeros(
    indptr: torch.Tensor,
    row_index: torch.Tensor,
    genes: torch.Tensor,
    n_rows: int,
) -> torch.Tensor:
    """1 - pattern[:, genes] as a dense (n_rows x genes) tensor, from the pattern's CSC arrays."""
    dev = indptr.device
    starts = indptr[genes]
    lengths = indptr[genes + 1] - starts
    batch_col = torch.repeat_interleave(torch.arange(genes.numel(), device=dev), lengths)
    first = torch.cumsum(lengths, 0) - lengths
    offsets = torch.arange(int(lengths.sum()), device=dev) + torch.repeat_interleave(
        starts - first, lengths
    )
    zeros = torch.ones(n_rows, genes.numel(), device=dev)
    zeros[row_index[offsets].long(), batch_col] = 0.0
    return zeros


def cells_view(loss_fn, entries, idx: np.ndarray, cells: np.ndarray, n_cells: int, *, pattern,
               share, zero_term: bool = False):  # fmt: skip
    """`batch_view` for entries `idx`, all in the sorted `cells`, renumbered in their order."""
    local = np.full(n_cells, -1, dtype=np.int64)
    local[cells] = np.arange(cells.size)
    return batch_view(loss_fn, entries, idx, local, seeds=cells, pattern=pattern, share=share,
                      zero_term=zero_term)  # fmt: skip


class _Entries:
    """The few entries of one batch, rows in subgraph-local numbering."""

    def __init__(self, rows, cols, values):
        self.rows, self.cols, self.values = rows, cols, values


def batch_view(loss_fn, entries, idx: np.ndarray, local: np.ndarray, *, seeds, pattern, share,
               zero_term: bool = False):  # fmt: skip
    """`loss_fn` restricted to entries `idx`, with rows renumbered into the seeds' order.

    The detection term reads the seeds' rows of the observed `pattern` and weights zeros by the
    `share` of non-zeros hidden across all cells, as in full-batch training. `zero_term`: the
    caller scores the zeros of its cells as full batch does (a cell sample), so zero_weight works.
    """
    if loss_fn.zero_coef > 0 and not zero_term:
        raise InputError(
            "mini-batch training does not support zero_weight > 0 yet; use --batch-cells 0"
        )
    restricted = _Entries(local[entries.rows[idx]], entries.cols[idx], entries.values[idx])
    return loss_fn.restrict(restricted, pattern[seeds] if pattern is not None else None, share)
