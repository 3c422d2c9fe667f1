"""The benchmark's datasets: a file or a simulation spec, with its labels and marker genes."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._constants import GROUP_KEY, TRUTH_LAYER
from ..data.norm import log_normalize

DEFAULT_LABEL_KEYS = ("cell_type", "cluster", GROUP_KEY, "label", "labels", "celltype")


N_MARKERS = 3  # top marker genes per label for the heat map


_SIM = re.compile(r"^sim(\d+)(?::(\d+)x(\d+))?$")


# the GNNImpute paper's Splatter settings (gnnimpute.data.simulate defaults: 4000 cells x 20000 genes)
SIM_DEFAULT_SIZE = (4000, 20000)


@dataclass
class Dataset:
    name: str
    adata: ad.AnnData
    label_key: str | None
    simulated: bool = False


def load_dataset(spec: str, label_keys: Sequence[str] = DEFAULT_LABEL_KEYS) -> Dataset:
    """A path readable by ``gnnimpute.data.read.read_input``, or ``simN[:CELLSxGENES]`` (Splat, N groups).

    ``sim2`` and ``sim6`` are the paper's 2- and 6-group settings (4000 x 20000); append a size,
    e.g. ``sim2:1000x2000``, for a smaller run. Simulated data keep their pre-dropout counts in
    ``layers['truth']``, used only for scoring.
    """
    m = _SIM.match(spec)
    if m:
        from ..data.simulate import simulate_splat

        n_groups = int(m.group(1))
        n_cells, n_genes = (int(m.group(2)), int(m.group(3))) if m.group(2) else SIM_DEFAULT_SIZE
        adata = simulate_splat(n_cells=n_cells, n_genes=n_genes, n_groups=n_groups, random_state=0)
        adata.X = sp.csr_matrix(adata.X, dtype=np.float32)
        return Dataset(spec.replace(":", "_"), adata, GROUP_KEY, simulated=True)
    from ..data.read import read_input

    path = Path(spec)
    adata = read_input(path)
    if TRUTH_LAYER in adata.layers:  # read_input drops layers; keep a simulated truth if present
        adata.layers[TRUTH_LAYER] = sp.csr_matrix(ad.read_h5ad(path).layers[TRUTH_LAYER])
    label = next((k for k in label_keys if k in adata.obs), None)
    name = path.name.removesuffix(".gz").removesuffix(".h5ad").removesuffix(".h5")
    return Dataset(name, adata, label, simulated=TRUTH_LAYER in adata.layers)


def marker_genes(adata: ad.AnnData, labels: np.ndarray, n: int = N_MARKERS) -> list[str]:
    """Top ``n`` marker genes per label (t-test on log-normalized counts of the ORIGINAL data)."""
    import scanpy as sc

    tmp = ad.AnnData(
        X=log_normalize(adata.X), obs=pd.DataFrame({"label": pd.Categorical(labels.astype(str))})
    )
    tmp.obs_names = adata.obs_names
    tmp.var_names = adata.var_names
    counts = tmp.obs["label"].value_counts()
    tmp = tmp[tmp.obs["label"].isin(counts.index[counts >= 2])].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.tl.rank_genes_groups(tmp, "label", method="t-test", n_genes=n)
    names = tmp.uns["rank_genes_groups"]["names"]
    genes: list[str] = []
    for group in names.dtype.names:
        for g in names[group][:n]:
            if g not in genes:
                genes.append(str(g))
    return genes
