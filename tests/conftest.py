"""Shared fixtures: small simulated data."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def sim_adata():
    """150 cells x 300 genes, 3 groups, mild dropout: enough structure for a graph to matter."""
    from gnnimpute.data.simulate import simulate_splat

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
