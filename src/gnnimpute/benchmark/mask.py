"""Hold-out protocols for scoring imputation: the paper's masking and molecular cross-validation.

Two protocols, each turning one count matrix into an *input* that methods see and a *truth*
that only the evaluation reads:

* ``mask_counts`` (the GNNImpute paper's protocol): for every gene with more than ``min_nnz``
  (3) non-zero cells, ``floor(rate * nnz)`` of its non-zero entries, chosen uniformly at
  random, are set to zero. The truth file keeps the original counts and the hidden positions.
* ``split_counts`` (molecular cross-validation, Batson et al. 2019; the Open Problems denoising
  task): every count is split binomially, ``train ~ Binomial(count, train_frac)`` and
  ``test = count - train``.

Both are deterministic given the seed (numpy ``default_rng``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._constants import TRUTH_LAYER
from ..errors import InputError

MASK_KEY = "mask"  # uns[MASK_KEY] of a TRUTH file
MIN_NNZ = 3  # genes need MORE than this many non-zero cells to be masked (the paper's rule)
_EPS = 1e-9  # floor(rate * nnz) computed as floor(rate * nnz + eps): 0.3 * 10 is 3, not 2


class MaskResult(NamedTuple):
    """The masked counts and the hidden entries (row = cell, col = gene, original value)."""

    masked: sp.csr_matrix
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray


def _as_csc(X) -> sp.csc_matrix:
    X = sp.csc_matrix(X, dtype=np.float32, copy=True)
    X.eliminate_zeros()
    X.sort_indices()
    return X


def n_hidden_per_gene(nnz: np.ndarray, rate: float, min_nnz: int = MIN_NNZ) -> np.ndarray:
    """How many entries of each gene are hidden: floor(rate * nnz) where nnz > min_nnz, else 0."""
    nnz = np.asarray(nnz, dtype=np.int64)
    n = np.floor(rate * nnz + _EPS).astype(np.int64)
    n[nnz <= min_nnz] = 0
    return np.minimum(n, nnz)


def _check_rate(rate: float, name: str = "rate") -> float:
    rate = float(rate)
    if not math.isfinite(rate) or not 0.0 <= rate < 1.0:
        raise InputError(f"{name} must be in [0, 1), got {rate}")
    return rate


def mask_counts(X, rate: float, seed: int = 0, *, min_nnz: int = MIN_NNZ) -> MaskResult:
    """Hide ``floor(rate * nnz)`` non-zero counts of every gene with more than ``min_nnz`` of them.

    Which entries are hidden is uniform within each gene, drawn from ``default_rng(seed)``:
    each stored non-zero gets a random key and, within its gene, the entries with the smallest
    keys are hidden. The returned hidden positions are sorted by (row, col).
    """
    rate = _check_rate(rate)
    csc = _as_csc(X)
    n_cells, n_genes = csc.shape
    nnz = np.diff(csc.indptr)
    n_hide = n_hidden_per_gene(nnz, rate, min_nnz)
    gene_of_entry = np.repeat(np.arange(n_genes), nnz)
    rng = np.random.default_rng(seed)
    keys = rng.random(csc.nnz)
    order = np.lexsort((keys, gene_of_entry))  # by gene, then by key
    rank = np.empty(csc.nnz, dtype=np.int64)
    rank[order] = np.arange(csc.nnz) - csc.indptr[gene_of_entry[order]]
    hide = rank < n_hide[gene_of_entry]

    rows = csc.indices[hide].astype(np.int64)
    cols = gene_of_entry[hide].astype(np.int64)
    values = csc.data[hide].copy()
    srt = np.lexsort((cols, rows))
    rows, cols, values = rows[srt], cols[srt], values[srt]

    kept = csc.copy()
    kept.data[hide] = 0.0
    kept.eliminate_zeros()
    masked = sp.csr_matrix(kept, dtype=np.float32)
    masked.sort_indices()
    assert masked.shape == (n_cells, n_genes)
    return MaskResult(masked, rows, cols, values)


def split_counts(X, train_frac: float = 0.9, seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Molecular cross-validation split: ``train ~ Binomial(X, train_frac)``, ``test = X - train``.

    As ``molecular_cross_validation.util.split_molecules`` with no overlap. Needs integer counts.
    """
    train_frac = float(train_frac)
    if not math.isfinite(train_frac) or not 0.0 < train_frac < 1.0:
        raise InputError(f"train fraction must be in (0, 1), got {train_frac}")
    csr = sp.csr_matrix(X, dtype=np.float64, copy=True)
    csr.eliminate_zeros()
    csr.sort_indices()
    data = csr.data
    if data.size and (data.min() < 0 or not np.all(np.equal(np.mod(data, 1), 0))):
        raise InputError("molecular cross-validation needs non-negative integer counts")
    rng = np.random.default_rng(seed)
    train_data = rng.binomial(data.astype(np.int64), train_frac).astype(np.float32)
    # separate index arrays: eliminate_zeros() works in place
    train = sp.csr_matrix((train_data, csr.indices.copy(), csr.indptr.copy()), shape=csr.shape)
    test = sp.csr_matrix(
        ((data - train_data).astype(np.float32), csr.indices.copy(), csr.indptr.copy()),
        shape=csr.shape,
    )
    train.eliminate_zeros()
    test.eliminate_zeros()
    return train, test


def _annotations(adata: ad.AnnData) -> tuple[pd.DataFrame, pd.DataFrame]:
    return adata.obs.copy(), adata.var.copy()


def method_input(counts, obs_names, var_names) -> ad.AnnData:
    """The only object a method ever receives: counts in X and the cell/gene names, nothing else.

    No obs columns (labels are not the method's business), no layers, no uns, no obsm.
    """
    X = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    return ad.AnnData(
        X=X,
        obs=pd.DataFrame(index=pd.Index(obs_names, dtype=str).copy()),
        var=pd.DataFrame(index=pd.Index(var_names, dtype=str).copy()),
    )


def make_mask_pair(
    adata: ad.AnnData, rate: float, seed: int = 0, *, min_nnz: int = MIN_NNZ
) -> tuple[ad.AnnData, ad.AnnData]:
    """(MASKED, TRUTH) AnnData objects for the masking protocol.

    MASKED: the masked counts in X, obs (labels kept for evaluation) and var; no layers, and in
    uns only the protocol parameters. TRUTH: the original counts in X,
    ``uns['mask'] = {kind, rows, cols, rate, seed, min_nnz}`` and, for simulated data, the
    pre-dropout counts in ``layers['truth']``.
    """
    res = mask_counts(adata.X, rate, seed, min_nnz=min_nnz)
    obs, var = _annotations(adata)
    params = {"kind": "mask", "rate": float(rate), "seed": int(seed), "min_nnz": int(min_nnz)}
    masked = ad.AnnData(X=res.masked, obs=obs.copy(), var=var.copy())
    masked.uns["masked"] = dict(params)
    original = sp.csr_matrix(adata.X, dtype=np.float32, copy=True)
    original.eliminate_zeros()
    truth = ad.AnnData(X=original, obs=obs, var=var)
    if TRUTH_LAYER in adata.layers:  # simulated data: keep the pre-dropout truth for scoring
        truth.layers[TRUTH_LAYER] = sp.csr_matrix(adata.layers[TRUTH_LAYER], dtype=np.float32)
    truth.uns[MASK_KEY] = {**params, "rows": res.rows, "cols": res.cols}
    return masked, truth


def make_split_pair(
    adata: ad.AnnData, train_frac: float = 0.9, seed: int = 0
) -> tuple[ad.AnnData, ad.AnnData]:
    """(TRAIN, TEST) AnnData objects for molecular cross-validation.

    TEST keeps ``uns['mask'] = {kind='split', train_frac, seed, train_library_size}``; the train
    library sizes let evaluate put an imputed matrix back on the train count scale.
    """
    train, test = split_counts(adata.X, train_frac, seed)
    obs, var = _annotations(adata)
    params = {"kind": "split", "train_frac": float(train_frac), "seed": int(seed)}
    train_ad = ad.AnnData(X=train, obs=obs.copy(), var=var.copy())
    train_ad.uns["masked"] = dict(params)
    test_ad = ad.AnnData(X=test, obs=obs, var=var)
    lib = np.asarray(train.sum(axis=1), dtype=np.float64).ravel()
    test_ad.uns[MASK_KEY] = {**params, "train_library_size": lib}
    return train_ad, test_ad


def truth_kind(truth: ad.AnnData) -> str:
    """'mask' or 'split', from a TRUTH/TEST file's ``uns['mask']``; InputError if absent."""
    info = truth.uns.get(MASK_KEY)
    if not isinstance(info, dict) or "kind" not in info:
        raise InputError(
            "TRUTH has no uns['mask']: make it with `gnnimpute mask` or `gnnimpute split`"
        )
    kind = str(info["kind"])
    if kind not in ("mask", "split"):
        raise InputError(f"unknown truth kind {kind!r} in uns['mask']")
    return kind


def masked_counts_from_truth(truth: ad.AnnData) -> sp.csr_matrix:
    """Rebuild the masked counts from a TRUTH file (original counts minus the hidden entries)."""
    info = truth.uns[MASK_KEY]
    rows = np.asarray(info["rows"], dtype=np.int64)
    cols = np.asarray(info["cols"], dtype=np.int64)
    X = sp.csr_matrix(truth.X, dtype=np.float32, copy=True)
    hidden = sp.csr_matrix(
        (np.asarray(X[rows, cols]).ravel(), (rows, cols)), shape=X.shape, dtype=np.float32
    )
    out = sp.csr_matrix(X - hidden)
    out.eliminate_zeros()
    return out
