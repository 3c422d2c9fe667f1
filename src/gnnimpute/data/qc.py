"""The paper's quality control: drop near-empty cells, rare genes, and optional outlier cells."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError

MITO_PREFIXES = ("MT-", "mt-", "Mt-")
# var columns that hold gene symbols when var_names are IDs (e.g. Ensembl): nf-core/scrnaseq
# 4.0 writes gene_symbols (Cell Ranger) or gene_symbol (STARsolo, kallisto); scanpy's
# read_10x_* with var_names="gene_ids" writes gene_symbols; CELLxGENE uses feature_name.
SYMBOL_COLUMNS = (
    "gene_symbols",
    "gene_symbol",
    "gene_name",
    "gene_names",
    "feature_name",
    "symbol",
    "Symbol",
)


def mito_genes(adata: ad.AnnData) -> tuple[np.ndarray, str | None]:
    """Which genes are mitochondrial, and where their names were read.

    var_names first; when none of them is marked MT-/mt- (Ensembl IDs, say), the first
    gene-symbol column of var that marks some. Returns (all False, None) when nothing does,
    so that callers can say the rule could not run instead of pretending it did.
    """
    names = pd.Index(adata.var_names.astype(str))
    mito = np.asarray(names.str.startswith(MITO_PREFIXES))
    if mito.any():
        return mito, "var_names"
    for column in SYMBOL_COLUMNS:
        if column in adata.var.columns:
            symbols = adata.var[column].astype(str)
            mito = np.asarray(symbols.str.startswith(MITO_PREFIXES).fillna(False), dtype=bool)
            if mito.any():
                return mito, f"var['{column}']"
    return np.zeros(adata.n_vars, dtype=bool), None


def filter_cells_genes(
    adata: ad.AnnData,
    *,
    min_genes: int = 200,
    min_cells: int = 3,
    max_pct_mt: float | None = None,
    max_counts: float | None = None,
    max_genes: int | None = None,
) -> tuple[ad.AnnData, dict]:
    """Return the kept cells and genes and a summary of what each rule removed.

    Cell rules run first on the full matrix, then the gene rule on the kept cells, as scanpy's
    tutorial does. The mitochondrial rule applies only when gene names mark mitochondrial genes;
    otherwise the summary says it was skipped, so nobody believes a filter ran that could not.
    The input is never modified.
    """
    x = sp.csr_matrix(adata.X)
    detected = np.diff(x.indptr)
    totals = np.asarray(x.sum(axis=1)).ravel()
    keep = np.ones(adata.n_obs, dtype=bool)
    removed: dict[str, int] = {}

    def apply(rule: str, ok: np.ndarray) -> None:
        removed[rule] = int(np.sum(keep & ~ok))
        keep[:] &= ok

    apply("min_genes", detected >= min_genes)
    if max_genes is not None:
        apply("max_genes", detected <= max_genes)
    if max_counts is not None:
        apply("max_counts", totals <= max_counts)
    mito, mito_source = mito_genes(adata) if max_pct_mt is not None else (None, None)
    mt_applied = mito_source is not None
    if max_pct_mt is not None and not mt_applied:
        warnings.warn(
            "--max-pct-mt was not applied: no gene is marked MT-/mt- in var_names or in a "
            f"gene-symbol column of var ({', '.join(SYMBOL_COLUMNS)})",
            UserWarning,
            stacklevel=2,
        )
    if mt_applied:
        mt_counts = np.asarray(x[:, mito].sum(axis=1)).ravel()
        pct = np.divide(100.0 * mt_counts, totals, out=np.zeros_like(totals), where=totals > 0)
        apply("max_pct_mt", pct <= max_pct_mt)
    if not keep.any():
        raise InputError(
            f"QC removed every cell ({adata.n_obs} cells; removed by rule: {removed}); "
            "relax --min-genes/--max-* or use --no-qc"
        )
    cells_in = np.diff(x[keep].tocsc().indptr)
    gene_keep = cells_in >= min_cells
    if not gene_keep.any():
        raise InputError(f"QC removed every gene (none seen in >= {min_cells} cells)")

    kept = adata[keep, gene_keep].copy()
    summary = {
        "n_cells_in": int(adata.n_obs),
        "n_genes_in": int(adata.n_vars),
        "n_cells_kept": int(kept.n_obs),
        "n_genes_kept": int(kept.n_vars),
        "cells_removed_by": removed,
        "genes_removed_by": {"min_cells": int((~gene_keep).sum())},
        "thresholds": {
            "min_genes": min_genes,
            "min_cells": min_cells,
            "max_pct_mt": max_pct_mt,
            "max_counts": max_counts,
            "max_genes": max_genes,
        },
        "max_pct_mt_applied": mt_applied,
        "mito_genes_from": mito_source,
        "n_mito_genes": int(mito.sum()) if mt_applied else 0,
    }
    return kept, summary


def no_qc_summary(adata: ad.AnnData) -> dict:
    """The summary when QC is switched off, so `uns` always says what happened."""
    return {
        "n_cells_in": int(adata.n_obs),
        "n_genes_in": int(adata.n_vars),
        "n_cells_kept": int(adata.n_obs),
        "n_genes_kept": int(adata.n_vars),
        "cells_removed_by": {},
        "genes_removed_by": {},
        "thresholds": None,
        "max_pct_mt_applied": False,
    }
