"""Splat-model simulator of single-cell counts with known pre-dropout truth.

A pure-numpy port of the Splat model of the Splatter R package (``splatSimulate``
with ``method="groups"``; Zappia, Phipson & Oshlack 2017, Genome Biology 18:174).
It is the project's built-in data: the true counts are kept next to the observed
ones so imputation can be scored against what dropout removed.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import expit

from .._constants import GROUP_KEY, TRUTH_LAYER
from ..errors import InputError

__all__ = ["simulate_splat"]

# Cells x genes entries generated per chunk: bounds peak memory of the dense
# intermediates (a few float64 arrays of this size) independently of n_cells.
_CHUNK_ENTRIES = 2_000_000
# Floor on per-cell base means so the BCV term 1/sqrt(mean) stays finite.
_MIN_MEAN = 1e-12


def simulate_splat(
    n_cells: int = 4000,
    n_genes: int = 20000,
    n_groups: int = 2,
    *,
    group_prob: Sequence[float] | None = None,
    mean_shape: float = 0.6,
    mean_rate: float = 0.3,
    lib_loc: float = 11.0,
    lib_scale: float = 0.2,
    out_prob: float = 0.05,
    out_fac_loc: float = 4.0,
    out_fac_scale: float = 0.5,
    de_prob: float = 0.1,
    de_down_prob: float = 0.5,
    de_fac_loc: float = 0.1,
    de_fac_scale: float = 0.25,
    bcv_common: float = 0.1,
    bcv_df: float = 60.0,
    dropout_mid: float = 5.0,
    dropout_shape: float = -1.0,
    dropout: bool = True,
    random_state: int = 0,
) -> ad.AnnData:
    """Simulate grouped scRNA-seq counts with the Splat model.

    The defaults are Splatter's Splat defaults plus the GNNImpute paper's
    setting (4000 cells x 20000 genes, 2 groups, ``dropout_mid=5``,
    ``dropout_shape=-1``, ``de_fac_scale=0.25``), so ``simulate_splat()``
    reproduces the paper's data; ``n_groups=6`` gives its second setting.

    Parameters
    ----------
    n_cells, n_genes, n_groups
        Matrix size and number of cell groups (cell types).
    group_prob
        Probability of a cell belonging to each group; equal by default.
    mean_shape, mean_rate
        Gamma shape and rate of the gene base means.
    lib_loc, lib_scale
        Log-normal location and scale of the expected library sizes.
    out_prob, out_fac_loc, out_fac_scale
        Probability a gene is a high-expression outlier, and the log-normal
        factor that multiplies the median gene mean for outliers.
    de_prob, de_down_prob, de_fac_loc, de_fac_scale
        Per group: probability a gene is differentially expressed, probability
        a DE gene is down-regulated, and the log-normal DE factor.
    bcv_common, bcv_df
        Common biological coefficient of variation and the degrees of freedom
        of its inverse chi-squared scatter (``inf`` disables the scatter).
    dropout_mid, dropout_shape
        Midpoint and shape of the logistic dropout curve on log true mean
        (Splatter's ``dropout.type="experiment"``).
    dropout
        If False, observed counts equal the true counts.
    random_state
        Seed for :func:`numpy.random.default_rng`; same seed, same output.

    Returns
    -------
    anndata.AnnData
        Cells x genes. ``X``: observed counts after dropout (CSR float32);
        ``layers["truth"]``: counts before dropout (CSR float32);
        ``obs["group"]``: categorical ``Group1..GroupK``; ``uns["simulate"]``:
        every parameter used.

    Raises
    ------
    InputError
        If an argument is out of range.
    """
    n_cells = _count("n_cells", n_cells)
    n_genes = _count("n_genes", n_genes)
    n_groups = _count("n_groups", n_groups)
    random_state = _integer("random_state", random_state)
    if not isinstance(dropout, bool | np.bool_):
        raise InputError(f"dropout must be True or False, got {dropout!r}")
    dropout = bool(dropout)

    reals = {
        "mean_shape": mean_shape,
        "mean_rate": mean_rate,
        "lib_loc": lib_loc,
        "lib_scale": lib_scale,
        "out_prob": out_prob,
        "out_fac_loc": out_fac_loc,
        "out_fac_scale": out_fac_scale,
        "de_prob": de_prob,
        "de_down_prob": de_down_prob,
        "de_fac_loc": de_fac_loc,
        "de_fac_scale": de_fac_scale,
        "bcv_common": bcv_common,
        "dropout_mid": dropout_mid,
        "dropout_shape": dropout_shape,
    }
    p = {name: _finite(name, value) for name, value in reals.items()}
    for name in ("out_prob", "de_prob", "de_down_prob"):
        _probability(name, p[name])
    for name in ("mean_shape", "mean_rate"):
        if p[name] <= 0:
            raise InputError(f"{name} must be > 0, got {p[name]}")
    for name in ("lib_scale", "out_fac_scale", "de_fac_scale", "bcv_common"):
        if p[name] < 0:
            raise InputError(f"{name} must be >= 0, got {p[name]}")
    bcv_df = _real("bcv_df", bcv_df)
    if math.isnan(bcv_df) or bcv_df <= 0:
        raise InputError(f"bcv_df must be > 0 (inf allowed), got {bcv_df}")
    probs = _group_prob(group_prob, n_groups)

    rng = np.random.default_rng(random_state)
    # Same order of steps as splatSimulate: library sizes, gene means,
    # outliers, DE, cell means, BCV, true counts, dropout.
    groups = rng.choice(n_groups, size=n_cells, p=probs)
    lib_sizes = rng.lognormal(p["lib_loc"], p["lib_scale"], size=n_cells)

    base_means = rng.gamma(p["mean_shape"], 1.0 / p["mean_rate"], size=n_genes)
    out_facs = _lnorm_factors(
        rng, n_genes, p["out_prob"], 0.0, p["out_fac_loc"], p["out_fac_scale"]
    )
    is_outlier = out_facs != 1.0
    gene_means = base_means.copy()
    gene_means[is_outlier] = np.median(base_means) * out_facs[is_outlier]

    de_facs = np.stack(
        [
            _lnorm_factors(
                rng, n_genes, p["de_prob"], p["de_down_prob"], p["de_fac_loc"], p["de_fac_scale"]
            )
            for _ in range(n_groups)
        ]
    )
    # Cell means depend on the cell only through its group and library size:
    # normalise each group's means to proportions once, scale per cell later.
    group_props = gene_means[None, :] * de_facs
    group_props /= group_props.sum(axis=1, keepdims=True)

    # One inverse chi-squared BCV scatter per gene, shared by all cells (as in
    # Splatter, where the length-nGenes draw recycles down each cell's column).
    if math.isinf(bcv_df):
        bcv_scatter = np.ones(n_genes)
    else:
        bcv_scatter = np.sqrt(bcv_df / rng.chisquare(bcv_df, size=n_genes))

    chunk = max(1, _CHUNK_ENTRIES // n_genes)
    truth_csr = _CsrBuilder(n_cells, n_genes)
    observed_csr = _CsrBuilder(n_cells, n_genes)
    for start in range(0, n_cells, chunk):
        stop = min(start + chunk, n_cells)
        base = lib_sizes[start:stop, None] * group_props[groups[start:stop]]
        np.maximum(base, _MIN_MEAN, out=base)
        bcv2 = ((p["bcv_common"] + 1.0 / np.sqrt(base)) * bcv_scatter) ** 2
        true_means = rng.gamma(1.0 / bcv2, base * bcv2)
        del base, bcv2
        counts = rng.poisson(true_means).astype(np.float32)
        truth_csr.append(counts)
        if dropout:
            eta = np.log(np.maximum(true_means, np.finfo(np.float64).tiny))
            drop_prob = expit(p["dropout_shape"] * (eta - p["dropout_mid"]))
            del eta
            keep = rng.random(drop_prob.shape) < 1.0 - drop_prob
            counts *= keep
            del drop_prob, keep
            observed_csr.append(counts)
        del true_means, counts

    truth = truth_csr.finish()
    observed = observed_csr.finish() if dropout else truth.copy()

    group_names = [f"Group{k + 1}" for k in range(n_groups)]
    obs = pd.DataFrame(
        {GROUP_KEY: pd.Categorical.from_codes(groups, categories=group_names)},
        index=pd.Index([f"Cell{i + 1}" for i in range(n_cells)]),
    )
    var = pd.DataFrame(index=pd.Index([f"Gene{j + 1}" for j in range(n_genes)]))
    params: dict[str, Any] = {
        "model": "splat",
        "n_cells": n_cells,
        "n_genes": n_genes,
        "n_groups": n_groups,
        "group_prob": [float(x) for x in probs],
        **{name: p[name] for name in reals if not name.startswith(("bcv_", "dropout_"))},
        "bcv_common": p["bcv_common"],
        "bcv_df": bcv_df,
        "dropout_mid": p["dropout_mid"],
        "dropout_shape": p["dropout_shape"],
        "dropout": dropout,
        "random_state": random_state,
    }
    adata = ad.AnnData(X=observed, obs=obs, var=var)
    adata.layers[TRUTH_LAYER] = truth
    adata.uns["simulate"] = params
    return adata


def _lnorm_factors(
    rng: np.random.Generator,
    n: int,
    sel_prob: float,
    neg_prob: float,
    loc: float,
    scale: float,
) -> np.ndarray:
    """Log-normal multiplicative factors, 1 for unselected entries.

    Mirrors Splatter's ``getLNormFactors``: a selected factor below 1 has its
    direction flipped, so ``neg_prob`` alone decides up- versus down-regulation.
    """
    selected = rng.random(n) < sel_prob
    n_sel = int(selected.sum())
    direction = np.where(rng.random(n_sel) < neg_prob, -1.0, 1.0)
    facs = rng.lognormal(loc, scale, size=n_sel)
    direction[facs < 1.0] *= -1.0
    out = np.ones(n)
    out[selected] = facs**direction
    return out


class _CsrBuilder:
    """Append dense row blocks into one growing CSR without a final 2x concatenation.

    The buffers grow with ``ndarray.resize`` (``realloc``, which moves large
    blocks by remapping pages), so peak memory stays near the final matrix size.
    """

    def __init__(self, n_rows: int, n_cols: int) -> None:
        self.n_cols = n_cols
        max_nnz = n_rows * n_cols
        self.idx_dtype = np.int32 if max_nnz < np.iinfo(np.int32).max else np.int64
        self.data = np.empty(0, dtype=np.float32)
        self.indices = np.empty(0, dtype=self.idx_dtype)
        self.indptr = [np.zeros(1, dtype=self.idx_dtype)]
        self.nnz = 0

    def append(self, block: np.ndarray) -> None:
        part = sp.csr_matrix(block)
        k = part.nnz
        if self.nnz + k > self.data.size:
            cap = max(self.nnz + k, self.data.size * 3 // 2)
            self.data.resize(cap, refcheck=False)
            self.indices.resize(cap, refcheck=False)
        self.data[self.nnz : self.nnz + k] = part.data
        self.indices[self.nnz : self.nnz + k] = part.indices
        self.indptr.append((part.indptr[1:] + self.nnz).astype(self.idx_dtype))
        self.nnz += k

    def finish(self) -> sp.csr_matrix:
        self.data.resize(self.nnz, refcheck=False)
        self.indices.resize(self.nnz, refcheck=False)
        indptr = np.concatenate(self.indptr)
        n_rows = indptr.size - 1
        return sp.csr_matrix((self.data, self.indices, indptr), shape=(n_rows, self.n_cols))


def _integer(name: str, value: Any) -> int:
    if isinstance(value, bool | np.bool_):
        raise InputError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise InputError(f"{name} must be an integer, got {value!r}") from None


def _count(name: str, value: Any) -> int:
    value = _integer(name, value)
    if value < 1:
        raise InputError(f"{name} must be >= 1, got {value}")
    return value


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool | np.bool_):
        raise InputError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None


def _finite(name: str, value: Any) -> float:
    value = _real(name, value)
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {value}")
    return value


def _probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{name} must be a probability in [0, 1], got {value}")


def _group_prob(group_prob: Sequence[float] | None, n_groups: int) -> np.ndarray:
    if group_prob is None:
        return np.full(n_groups, 1.0 / n_groups)
    try:
        probs = np.asarray(group_prob, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"group_prob must be a sequence of numbers, got {group_prob!r}") from None
    if probs.ndim != 1 or probs.size != n_groups:
        raise InputError(f"group_prob must have n_groups={n_groups} entries, got {probs.size}")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0) or np.any(probs > 1):
        raise InputError(
            f"group_prob entries must be probabilities in [0, 1], got {probs.tolist()}"
        )
    if not math.isclose(float(probs.sum()), 1.0, abs_tol=1e-6):
        raise InputError(f"group_prob must sum to 1, got {float(probs.sum())}")
    return probs / probs.sum()
