"""Scores of an imputed matrix against held-out truth.

All imputed matrices are in *normalized-count space*: cell i of the method's input counts is
scaled by s_i = median(L) / L_i, L_i its total count (``gnnimpute.data.norm.size_factors``).

* Masking protocol (the paper's): on the hidden entries, truth value = original count x s_i
  with s_i from the *masked* counts; MSE, MAE, and Pearson correlation and cosine similarity,
  each pooled over all hidden entries (as in the paper) and as the mean over cells.
* Molecular cross-validation (Batson et al. 2019): the Poisson negative log-likelihood of the
  held-out test counts under the imputed values rescaled per cell to the test total (the
  primary score), MSE of log-normalized values, and Open Problems' Poisson formula (which is
  not a likelihood; kept for comparison with their leaderboard).
* With labels: ARI and NMI of k-means (k = number of labels) on the PCA of log1p of the imputed
  values, and of Leiden at the resolution that yields that many clusters.
* Simulated data with the pre-dropout truth: MSE and Pearson correlation in log space.
"""

from __future__ import annotations

import warnings
from typing import Any

import anndata as ad
import numpy as np
import scipy.sparse as sp

from ..data.norm import size_factors
from ..errors import InputError
from .clustering import clustering_metrics
from .mask import MASK_KEY, masked_counts_from_truth, truth_kind

_CHUNK = 512  # rows per chunk in the dense whole-matrix metrics
POISSON_EPS = 1e-6  # as molecular_cross_validation.mcv_sweep.poisson_nll_loss


# --------------------------------------------------------------------------- small helpers


def values_at(M, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Entries M[rows[k], cols[k]] of a dense or sparse matrix, as float64."""
    if sp.issparse(M):
        return np.asarray(sp.csr_matrix(M)[rows, cols], dtype=np.float64).ravel()
    return np.asarray(M[rows, cols], dtype=np.float64).ravel()


def _dense_rows(M, start: int, stop: int) -> np.ndarray:
    block = M[start:stop]
    if sp.issparse(block):
        block = block.toarray()
    return np.asarray(block, dtype=np.float64)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (e.g. an all-zero prediction)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.size < 2:
        return float("nan")
    da, db = a - a.mean(), b - b.mean()
    den = np.sqrt(np.dot(da, da) * np.dot(db, db))
    return float(np.dot(da, db) / den) if den > 0 else float("nan")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity; 0 when either vector is all zero (sklearn's convention)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    den = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / den) if den > 0 else 0.0


def per_group_pearson(a: np.ndarray, b: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Pearson correlation within each group (cell); NaN for groups with < 2 entries or no variance."""
    groups = np.asarray(groups, dtype=np.int64)
    n_groups = int(groups.max()) + 1 if groups.size else 0
    n = np.bincount(groups, minlength=n_groups).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = np.bincount(groups, a, n_groups) / n
        mb = np.bincount(groups, b, n_groups) / n
        da, db = a - ma[groups], b - mb[groups]
        sab = np.bincount(groups, da * db, n_groups)
        saa = np.bincount(groups, da * da, n_groups)
        sbb = np.bincount(groups, db * db, n_groups)
        den = np.sqrt(saa * sbb)
        out = np.where((n >= 2) & (den > 0), sab / np.where(den > 0, den, 1.0), np.nan)
    return out


def per_group_cosine(a: np.ndarray, b: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Cosine similarity within each group (cell); 0 where a side is all zero, NaN for empty groups."""
    groups = np.asarray(groups, dtype=np.int64)
    n_groups = int(groups.max()) + 1 if groups.size else 0
    n = np.bincount(groups, minlength=n_groups)
    sab = np.bincount(groups, a * b, n_groups)
    saa = np.bincount(groups, a * a, n_groups)
    sbb = np.bincount(groups, b * b, n_groups)
    den = np.sqrt(saa * sbb)
    out = np.divide(sab, den, out=np.zeros(n_groups), where=den > 0)
    out[n == 0] = np.nan
    return out


def _nanmean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


# --------------------------------------------------------------------------- masking protocol


def hidden_entry_metrics(true_vals, pred_vals, rows) -> dict[str, float]:
    """Metrics on the hidden entries: both arrays already in normalized-count space.

    ``rows`` gives each entry's cell, for the per-cell means (cells whose PCC is undefined,
    i.e. fewer than 2 hidden entries or a constant side, are left out of the PCC mean).
    """
    t = np.asarray(true_vals, dtype=np.float64)
    p = np.asarray(pred_vals, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.int64)
    if t.shape != p.shape or t.shape != rows.shape:
        raise ValueError("true, predicted and rows must have the same length")
    if t.size == 0:
        raise InputError("no hidden entries to score")
    if not np.all(np.isfinite(p)):
        raise InputError("imputed values are not all finite")
    diff = p - t
    _, cell = np.unique(rows, return_inverse=True)
    pcc_cells = per_group_pearson(t, p, cell)
    cos_cells = per_group_cosine(t, p, cell)
    return {
        "mse": float(np.mean(diff**2)),
        "mae": float(np.mean(np.abs(diff))),
        "pcc": pearson(t, p),
        "cosine": cosine(t, p),
        "pcc_cell_mean": _nanmean(pcc_cells),
        "cosine_cell_mean": _nanmean(cos_cells),
        "n_hidden": int(t.size),
        "n_cells_pcc": int(np.isfinite(pcc_cells).sum()),
    }


def mask_metrics(imputed, original_counts, masked_counts, rows, cols) -> dict[str, float]:
    """Score ``imputed`` (normalized-count space) on the hidden entries of a mask."""
    s = size_factors(masked_counts)
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    truth = values_at(original_counts, rows, cols) * s[rows]
    pred = values_at(imputed, rows, cols)
    return hidden_entry_metrics(truth, pred, rows)


# --------------------------------------------------------------------------- molecular CV


def _row_normalize_log(block: np.ndarray, target: float) -> np.ndarray:
    tot = block.sum(axis=1, keepdims=True)
    out = np.divide(block * target, tot, out=np.zeros_like(block), where=tot > 0)
    return np.log1p(out)


def mcv_metrics(imputed, test_counts, train_library_size) -> dict[str, float]:
    """Molecular cross-validation scores, as the Open Problems denoising task computes them.

    The imputed matrix (normalized-count space of the train counts) is first put back on the
    train count scale by dividing each cell by s_i = median(L_train) / L_train_i.

    * ``mcv_mse``: test and denoised each normalized to the median test library size
      (``sc.pp.normalize_total``), log1p, mean squared error over all entries.
    * ``mcv_poisson``: denoised scaled by sum(test) / sum(train), then exactly Open Problems'
      ``poisson_nll_loss(test, denoised)`` = mean(test - denoised * log(test + 1e-6)); note the
      argument order Open Problems uses (molecular_cross_validation's signature is
      ``(y_pred, y_true)``).
      This is linear in the prediction and rewards large values wherever a test count is >= 2:
      it is not a likelihood, and is kept only to compare with Open Problems' numbers.
    * ``mcv_poisson_nll`` (the primary score): the Poisson negative log-likelihood of the test
      counts, up to the constant log(y!): each cell's denoised values are rescaled to sum to
      that cell's test total T_i, mu_ij = den_ij T_i / sum_j den_ij, then
      mean(mu - y log(mu + 1e-6)) over all entries. The rescaling removes the cell's depth, so
      only the denoised profile is scored (a cell whose denoised values are all 0 gets mu = 0).
    """
    test = sp.csr_matrix(test_counts, dtype=np.float64)
    lib = np.asarray(train_library_size, dtype=np.float64).ravel()
    if imputed.shape != test.shape or lib.size != test.shape[0]:
        raise InputError(
            f"shape mismatch: imputed {imputed.shape}, test {test.shape}, {lib.size} train sizes"
        )
    s = size_factors(sp.csr_matrix(lib[:, None]))
    inv_s = np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)
    test_lib = np.asarray(test.sum(axis=1)).ravel()
    target = float(np.median(test_lib))
    scale = float(test.sum()) / float(lib.sum()) if lib.sum() > 0 else 0.0
    sq = pois_op = pois_nll = 0.0
    n_entries = test.shape[0] * test.shape[1]
    for start in range(0, test.shape[0], _CHUNK):
        stop = min(start + _CHUNK, test.shape[0])
        y = test[start:stop].toarray()
        den = _dense_rows(imputed, start, stop) * inv_s[start:stop, None]
        if not np.all(np.isfinite(den)):
            raise InputError("imputed values are not all finite")
        den = np.maximum(den, 0.0)
        sq += float(((_row_normalize_log(y, target) - _row_normalize_log(den, target)) ** 2).sum())
        mu = den * scale
        pois_op += float((y - mu * np.log(y + POISSON_EPS)).sum())
        pois_nll += poisson_nll_rescaled(den, y) * y.size
    return {
        "mcv_mse": sq / n_entries,
        "mcv_poisson": pois_op / n_entries,
        "mcv_poisson_nll": pois_nll / n_entries,
    }


def poisson_nll_rescaled(denoised: np.ndarray, test: np.ndarray) -> float:
    """mean(mu - y log(mu + 1e-6)), mu = each row of `denoised` rescaled to its row total in
    `test`: the Poisson NLL (without log y!) of the test counts under the denoised profile."""
    den = np.asarray(denoised, dtype=np.float64)
    y = np.asarray(test, dtype=np.float64)
    tot = den.sum(axis=1, keepdims=True)
    mu = np.divide(den * y.sum(axis=1, keepdims=True), tot, out=np.zeros_like(den), where=tot > 0)
    return float(np.mean(mu - y * np.log(mu + POISSON_EPS)))


# --------------------------------------------------------------------------- simulated truth


def truth_metrics(imputed, truth_counts, observed_counts) -> dict[str, float]:
    """Score against the pre-dropout truth of simulated data (known only there).

    Both the imputed matrix and the true counts are rescaled per cell to the same total (the
    median true library size), then log1p. ``truth_mse_log``: MSE over all entries;
    ``truth_pcc_log``: pooled Pearson over all entries; ``truth_pcc_dropout``: pooled Pearson
    on the entries that dropout zeroed (observed 0, truth > 0).
    """
    truth = sp.csr_matrix(truth_counts, dtype=np.float64)
    obs = sp.csr_matrix(observed_counts, dtype=np.float64)
    target = float(np.median(np.asarray(truth.sum(axis=1)).ravel()))
    n = truth.shape[0] * truth.shape[1]
    sq = 0.0
    # pooled Pearson from running sums: (n, sum t, sum p, sum t^2, sum p^2, sum tp)
    acc_all = np.zeros(6)
    acc_drop = np.zeros(6)
    for start in range(0, truth.shape[0], _CHUNK):
        stop = min(start + _CHUNK, truth.shape[0])
        t = _row_normalize_log(truth[start:stop].toarray(), target)
        p = _row_normalize_log(np.maximum(_dense_rows(imputed, start, stop), 0.0), target)
        sq += float(((t - p) ** 2).sum())
        drop = (obs[start:stop].toarray() == 0) & (truth[start:stop].toarray() > 0)
        for acc, tt, pp in ((acc_all, t.ravel(), p.ravel()), (acc_drop, t[drop], p[drop])):
            acc += [tt.size, tt.sum(), pp.sum(), (tt * tt).sum(), (pp * pp).sum(), (tt * pp).sum()]
    return {
        "truth_mse_log": sq / n,
        "truth_pcc_log": _pearson_from_sums(acc_all),
        "truth_pcc_dropout": _pearson_from_sums(acc_drop),
    }


def _pearson_from_sums(acc: np.ndarray) -> float:
    n, st, sp_, stt, spp, stp = acc
    if n < 2:
        return float("nan")
    cov = stp - st * sp_ / n
    vt = stt - st * st / n
    vp = spp - sp_ * sp_ / n
    den = np.sqrt(max(vt, 0.0) * max(vp, 0.0))
    return float(cov / den) if den > 0 else float("nan")


def imputed_matrix(imputed: ad.AnnData, layer: str | None = None):
    """The imputed values of an IMPUTED file: ``layer``, else layers['gnnimpute'], else X."""
    from .._constants import KEY

    if layer is not None:
        if layer not in imputed.layers:
            raise InputError(f"layer '{layer}' not in IMPUTED (has: {list(imputed.layers)})")
        return imputed.layers[layer]
    if KEY in imputed.layers:
        return imputed.layers[KEY]
    warnings.warn(
        "IMPUTED has no layers['gnnimpute']; scoring X, which must be in normalized-count space",
        stacklevel=2,
    )
    return imputed.X


def _align(
    imputed: ad.AnnData, truth: ad.AnnData
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions of the shared cells/genes in truth and in imputed (imputed may be a QC subset)."""
    t_obs = truth.obs_names
    t_var = truth.var_names
    if (
        imputed.n_obs == truth.n_obs
        and imputed.n_vars == truth.n_vars
        and (np.array_equal(imputed.obs_names, t_obs) and np.array_equal(imputed.var_names, t_var))
    ):
        r = np.arange(truth.n_obs)
        c = np.arange(truth.n_vars)
        return r, r, c, c
    obs_i = t_obs.get_indexer(imputed.obs_names)
    var_i = t_var.get_indexer(imputed.var_names)
    if (obs_i < 0).any() or (var_i < 0).any():
        raise InputError("IMPUTED has cells or genes that TRUTH does not have")
    if obs_i.size == 0 or var_i.size == 0:
        raise InputError("IMPUTED and TRUTH share no cells or genes")
    return obs_i, np.arange(obs_i.size), var_i, np.arange(var_i.size)


def evaluate(
    imputed: ad.AnnData,
    truth: ad.AnnData,
    *,
    layer: str | None = None,
    label_key: str | None = None,
    seed: int = 0,
    leiden: bool = True,
) -> dict[str, Any]:
    """All metrics of an IMPUTED file against a TRUTH file (from ``mask``) or TEST (``split``)."""
    from .._constants import TRUTH_LAYER

    kind = truth_kind(truth)
    M = imputed_matrix(imputed, layer)
    t_rows, i_rows, t_cols, _ = _align(imputed, truth)
    full = np.array_equal(t_rows, np.arange(truth.n_obs)) and np.array_equal(
        t_cols, np.arange(truth.n_vars)
    )
    out: dict[str, Any] = {
        "protocol": kind,
        "n_cells": int(t_rows.size),
        "n_genes": int(t_cols.size),
    }
    info = truth.uns[MASK_KEY]
    if kind == "mask":
        out["rate"] = float(info["rate"])
        original = sp.csr_matrix(truth.X)
        masked = masked_counts_from_truth(truth)
        rows = np.asarray(info["rows"], dtype=np.int64)
        cols = np.asarray(info["cols"], dtype=np.int64)
        if not full:
            rmap = np.full(truth.n_obs, -1)
            rmap[t_rows] = np.arange(t_rows.size)
            cmap = np.full(truth.n_vars, -1)
            cmap[t_cols] = np.arange(t_cols.size)
            keep = (rmap[rows] >= 0) & (cmap[cols] >= 0)
            rows, cols = rmap[rows[keep]], cmap[cols[keep]]
            original = original[t_rows][:, t_cols]
            masked = masked[t_rows][:, t_cols]
        out.update(mask_metrics(M, original, masked, rows, cols))
        observed = masked
    else:
        out["train_frac"] = float(info["train_frac"])
        test = sp.csr_matrix(truth.X)[t_rows][:, t_cols]
        lib = np.asarray(info["train_library_size"], dtype=np.float64)[t_rows]
        out.update(mcv_metrics(M, test, lib))
        observed = None
    if TRUTH_LAYER in truth.layers and observed is not None:
        true_counts = sp.csr_matrix(truth.layers[TRUTH_LAYER])[t_rows][:, t_cols]
        out.update(truth_metrics(M, true_counts, sp.csr_matrix(truth.X)[t_rows][:, t_cols]))
    if label_key is not None:
        obs = truth.obs if label_key in truth.obs else imputed.obs
        if label_key not in obs:
            raise InputError(f"label key '{label_key}' not in TRUTH.obs or IMPUTED.obs")
        labels = obs[label_key].to_numpy()
        labels = labels[t_rows] if obs is truth.obs else labels[i_rows]
        out.update(clustering_metrics(M, labels, seed=seed, leiden=leiden))
    return out
