"""Encoder inputs that can hide chosen entries cheaply, once per epoch.

Two forms: the log-normalized counts of selected genes (dense), or their projection on fixed
principal axes. Hiding an entry in the projected form subtracts its contribution, a sparse
update, so the encoder never needs the full genes x hidden first layer.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from .sampled_product import from_scipy_csr


class EncoderInput:
    """Base: `full()` is the input with nothing hidden, `hidden(...)` with the given entries zeroed.

    `hidden(..., base=x)` hides the entries on top of `x`, an input that already hides others
    (training hides the fixed validation entries every epoch: they are hidden once, not again).
    """

    n_features: int

    def full(self) -> torch.Tensor:
        raise NotImplementedError

    def hidden(
        self, rows: np.ndarray, cols: np.ndarray, log_values: np.ndarray, base=None
    ) -> torch.Tensor:
        raise NotImplementedError


class GeneInput(EncoderInput):
    """Log-normalized counts of the chosen genes, as a dense cells x genes tensor."""

    def __init__(self, log_norm: sp.csr_matrix, genes: np.ndarray, device: torch.device):
        self._x = torch.as_tensor(log_norm[:, genes].toarray(), dtype=torch.float32, device=device)
        self._pos = np.full(log_norm.shape[1], -1, dtype=np.int64)
        self._pos[genes] = np.arange(genes.size)
        self.n_features = int(genes.size)

    def full(self) -> torch.Tensor:
        return self._x

    def hidden(self, rows, cols, log_values, base=None) -> torch.Tensor:
        x = (self._x if base is None else base).clone()
        if torch.is_tensor(cols):  # entries already on the device
            pos = torch.as_tensor(self._pos, device=cols.device)[cols.long()]
            keep = pos >= 0
            x[rows[keep].long(), pos[keep]] = 0.0
            return x
        pos = self._pos[cols]
        keep = pos >= 0
        x[
            torch.as_tensor(rows[keep], device=x.device),
            torch.as_tensor(pos[keep], device=x.device),
        ] = 0.0
        return x


class ProjectedInput(EncoderInput):
    """Centered log-normalized counts of all genes projected on fixed loadings (genes x d)."""

    def __init__(self, log_norm: sp.csr_matrix, loadings: np.ndarray, device: torch.device):
        loadings = np.ascontiguousarray(loadings, dtype=np.float32)
        mean = np.asarray(log_norm.mean(axis=0), dtype=np.float32).ravel()
        proj = np.asarray(log_norm @ loadings, dtype=np.float32) - mean @ loadings
        self._x = torch.as_tensor(proj, device=device)
        self._loadings = loadings
        self._shape = log_norm.shape
        self.n_features = int(loadings.shape[1])

    def full(self) -> torch.Tensor:
        return self._x

    def hidden(self, rows, cols, log_values, base=None) -> torch.Tensor:
        x = self._x if base is None else base
        if self._x.is_cuda or torch.is_tensor(cols):  # on the device; no entry crosses the bus
            return x - _device_product(rows, cols, log_values, self._shape, self._device_loadings())
        removed = entries_csr(rows, cols, log_values.astype(np.float32), self._shape)
        return x - csr_product(removed, torch.as_tensor(self._loadings))

    def _device_loadings(self) -> torch.Tensor:
        if getattr(self, "_loadings_dev", None) is None:
            self._loadings_dev = torch.as_tensor(self._loadings, device=self._x.device)
        return self._loadings_dev


def entries_csr(rows, cols, values, shape) -> sp.csr_matrix:
    """The entries as a CSR matrix (no repeats). Entries sorted by (row, column), as training
    hides them, are laid out directly, where scipy's COO route would sort them again; both give
    the same matrix, so the products give the same bytes."""
    n_rows, n_cols = shape
    key = rows.astype(np.int64) * n_cols + cols
    if key.size > 1 and not bool(np.all(key[1:] > key[:-1])):
        return sp.csr_matrix((values, (rows, cols)), shape=shape)
    indptr = np.zeros(n_rows + 1, dtype=np.int32 if key.size < 2**31 else np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return sp.csr_matrix((values, cols, indptr), shape=shape)


def csr_product(matrix: sp.csr_matrix, dense: torch.Tensor) -> torch.Tensor:
    """matrix @ dense with torch's CSR kernel: scipy's row sums (up to float32 rounding), on
    every thread (scipy's product runs on one), the same bytes on every call."""
    return from_scipy_csr(matrix) @ dense


def _device_product(rows, cols, values, shape, loadings: torch.Tensor) -> torch.Tensor:
    """(sparse entries) @ loadings on the loadings' device."""
    dev = loadings.device
    index = torch.stack(
        [torch.as_tensor(rows, device=dev).long(), torch.as_tensor(cols, device=dev).long()]
    )
    vals = torch.as_tensor(values, dtype=torch.float32, device=dev)
    return torch.sparse.mm(
        torch.sparse_coo_tensor(index, vals, shape, check_invariants=False), loadings
    )
