"""Constants and helpers shared by the tests (a plain module: `conftest` names clash)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Few epochs and a narrow model: tests check behaviour, the benchmark checks accuracy.
FAST = dict(
    epochs=40, patience=20, hidden=(32, 8), n_input=20, gene_batch=128, lr=1e-2, progress=False
)
FAST_CLI = [
    "--epochs", "40", "--patience", "20", "--hidden", "32,8", "--n-input", "20", "--lr", "0.01",
    "--quiet",
]  # fmt: skip


def random_target(seed=0, shape=(30, 40)):
    """A small sparse matrix of normalized-count-like values: Poisson counts times a gene scale."""
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    x = rng.poisson(0.7, shape).astype(np.float32) * rng.gamma(2, 5, shape[1]).astype(np.float32)
    return sp.csr_matrix(x)


def counts_only(adata):
    """The counts of a simulation without its truth layer, as a user's input would be."""
    import anndata as ad

    return ad.AnnData(X=adata.X.copy(), obs=adata.obs.copy(), var=adata.var.copy())


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data not found: {path} (the shared data folder is absent)")
    return path


def imports_module(code: str, module: str) -> bool:
    """Whether running `code` in a fresh interpreter leaves `module` imported: the costly
    imports (scikit-learn, PyG, torch._dynamo) a run must not pay for."""
    import subprocess
    import sys

    check = f"{code}\nimport sys\nprint({module!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1] == "True"
