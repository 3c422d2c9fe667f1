"""Shared fixtures: small simulated data and fast training settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Few epochs and a narrow model: tests check behaviour, the benchmark checks accuracy.
FAST = dict(
    epochs=40, patience=20, hidden=(32, 8), n_input=20, gene_batch=128, lr=1e-2, progress=False
)
FAST_CLI = [
    "--epochs",
    "40",
    "--patience",
    "20",
    "--hidden",
    "32,8",
    "--n-input",
    "20",
    "--lr",
    "0.01",
    "--quiet",
]


@pytest.fixture(scope="session")
def sim_adata():
    """150 cells x 300 genes, 3 groups, mild dropout: enough structure for a graph to matter."""
    from gnnimpute.simulate import simulate_splat

    return simulate_splat(150, 300, 3, dropout_mid=0.0, de_prob=0.3, lib_loc=9.0, random_state=1)


@pytest.fixture
def sim_h5ad(tmp_path, sim_adata):
    path = tmp_path / "sim.h5ad"
    counts = sim_adata.copy()
    del counts.layers["truth"]
    counts.write_h5ad(path)
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def shared_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real data not found: {path} (the shared data folder is absent)")
    return path
