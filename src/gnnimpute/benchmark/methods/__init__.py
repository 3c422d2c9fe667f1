"""Imputation methods the benchmark compares, behind one signature.

Every method is ``run(adata, *, seed, k, **options) -> matrix`` where ``adata`` holds only the
(masked) raw counts in X plus cell and gene names, and the returned matrix (dense or sparse,
cells x genes) is in *normalized-count space*: cell i scaled by s_i = median(L) / L_i, L_i the
cell's total in ``adata.X`` (``gnnimpute.data.norm.size_factors``). A method whose package cannot be
imported raises ``MethodUnavailable(reason)``; the benchmark records it as skipped with that
reason, never drops it silently.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp


class MethodUnavailable(RuntimeError):
    """The method's package is missing or broken; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Method:
    """A named method: the module holding its ``run`` and the options it is called with."""

    name: str
    module: str
    description: str
    options: dict[str, Any] = field(default_factory=dict)
    package: str | None = None  # the pip package it needs, for the skip message

    def load(self):
        return importlib.import_module(self.module).run

    def __call__(self, adata, *, seed: int = 0, k: int = 5, with_embedding=False, **options):
        """The output layer; with `with_embedding`, (layer, embedding or None, extra layers).

        An adapter may return (layer, embedding) where the method has one (gnnimpute's
        obsm['X_gnnimpute']), so the benchmark can also cluster the embedding, and a third item
        {name: layer} of other outputs of the same run, scored as rows ``<method>_<name>``.
        """
        run = self.load()
        options = {**self.options, **options}
        k = options.pop("k", k)  # a peer may fix its own k (kNN methods prefer more neighbours)
        out = run(adata, seed=seed, k=k, **options)
        out, embedding, extras = (*out, {})[:3] if isinstance(out, tuple) else (out, None, {})
        out = check_output(out, adata.shape, self.name)
        if not with_embedding:
            return out
        extras = {n: check_output(x, adata.shape, f"{self.name}_{n}") for n, x in extras.items()}
        embedding = None if embedding is None else np.asarray(embedding, dtype=np.float32)
        return out, embedding, extras


_M = "gnnimpute.benchmark.methods."
REGISTRY: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "gnnimpute",
            _M + "gnn",
            "gnnimpute default (GAT, 3 heads); rows _level and _expected score its other layers",
            {"with_layers": True},
        ),
        Method(
            "gnnimpute_gcn", _M + "gnn", "gnnimpute, GCN layers (ablation)", {"layer_type": "gcn"}
        ),
        Method("gnnimpute_h1", _M + "gnn", "gnnimpute, GAT 1 head", {"heads": 1}),
        Method("gnnimpute_h5", _M + "gnn", "gnnimpute, GAT 5 heads", {"heads": 5}),
        Method("gnnimpute_h8", _M + "gnn", "gnnimpute, GAT 8 heads", {"heads": 8}),
        Method(
            "gnnimpute_paper",
            _M + "gnn",
            "gnnimpute --preset paper (published architecture and training, leak-free)",
            {"preset": "paper"},
        ),
        Method("none", _M + "noimpute", "no imputation (masked normalized counts)"),
        Method(
            "knn",
            _M + "knn",
            "mean of the 15 nearest neighbours (PCA of log-normalized)",
            {"k": 15},
        ),
        Method(
            "knn_level",
            _M + "knn_level",
            "mean of the 15 nearest neighbours' non-zero values (no training)",
            {"k": 15},
        ),
        Method(
            "magic",
            _M + "magic_impute",
            "MAGIC (sqrt of normalized counts)",
            package="magic-impute",
        ),
        Method("scvi", _M + "scvi_tools", "scVI normalized expression", package="scvi-tools"),
        Method("alra", _M + "alra", "ALRA (halra, log-normalized)", package="halra"),
    )
}
DEFAULT_METHODS = tuple(REGISTRY)
# the field's methods, and the no-training and published-configuration baselines, to beat
PEERS = ("knn", "knn_level", "gnnimpute_paper", "magic", "scvi", "alra")


def get_method(name: str) -> Method:
    try:
        return REGISTRY[name]
    except KeyError:
        from ...errors import InputError

        raise InputError(f"unknown method {name!r} (choose from {', '.join(REGISTRY)})") from None


def check_output(out, shape: tuple[int, int], name: str):
    """Refuse an output of the wrong shape or with non-finite values."""
    if sp.issparse(out):
        out = sp.csr_matrix(out, dtype=np.float32)
        values = out.data
    else:
        out = np.asarray(out, dtype=np.float32)
        values = out
    if out.shape != tuple(shape):
        raise RuntimeError(f"method {name} returned shape {out.shape}, expected {tuple(shape)}")
    if not np.all(np.isfinite(values)):
        raise RuntimeError(f"method {name} returned non-finite values")
    return out
