"""Checks of the pipeline's published files that need Python (pytest-workflow custom tests).

Each test runs after the named workflow of test_pipeline.yml and gets its
folder as `workflow_dir`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

anndata = pytest.importorskip("anndata")

LAYER = "gnnimpute"
EMBEDDING = "X_gnnimpute"


def _check_imputed(imputed_path: Path, input_path: Path, *, same_cells: bool) -> None:
    inp = anndata.read_h5ad(input_path)
    out = anndata.read_h5ad(imputed_path)
    assert LAYER in out.layers, f"{imputed_path.name} has no layers['{LAYER}']"
    assert out.layers[LAYER].shape == out.shape
    assert EMBEDDING in out.obsm and out.obsm[EMBEDDING].shape[0] == out.n_obs
    assert LAYER in out.uns
    values = out.layers[LAYER]
    values = values.toarray() if hasattr(values, "toarray") else np.asarray(values)
    assert np.isfinite(values).all()
    assert out.n_obs > 0 and out.n_vars > 0
    if same_cells:
        # test profile runs with --no_qc: every input cell and gene is kept
        assert list(out.obs_names) == list(inp.obs_names)
        assert list(out.var_names) == list(inp.var_names)
    else:
        assert set(out.obs_names) <= set(inp.obs_names)
        assert set(out.var_names) <= set(inp.var_names)


def _versions(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict) and "Workflow" in data
    assert str(data["Workflow"]["Nextflow"]).startswith(("24.", "25."))
    return data


@pytest.mark.workflow("nextflow test profile")
def test_test_profile_outputs(workflow_dir):
    results = Path(workflow_dir, "results")
    _check_imputed(
        results / "gnnimpute/simulated_imputed.h5ad",
        results / "simulate/simulated.h5ad",
        same_cells=True,
    )

    versions = _versions(results / "pipeline_info/software_versions.yml")
    for proc in (
        "GNNIMPUTE_SIMULATE",
        "GNNIMPUTE_IMPUTE",
        "GNNIMPUTE_MASK",
        "GNNIMPUTE_IMPUTE_MASKED",
        "GNNIMPUTE_EVALUATE",
    ):
        assert proc in versions
        assert {"gnnimpute", "python", "torch"} <= set(versions[proc])
    from importlib.metadata import version

    assert str(versions["GNNIMPUTE_IMPUTE"]["gnnimpute"]) == version("gnnimpute")

    metrics = json.loads((results / "benchmark/simulated.metrics.json").read_text())
    assert isinstance(metrics, dict) and metrics
    assert list(Path(results, "pipeline_info").glob("execution_trace_*.txt"))


@pytest.mark.workflow("nextflow test profile stub")
def test_stub_versions(workflow_dir):
    versions = _versions(Path(workflow_dir, "results/pipeline_info/software_versions.yml"))
    assert {
        "GNNIMPUTE_SIMULATE",
        "GNNIMPUTE_IMPUTE",
        "GNNIMPUTE_MASK",
        "GNNIMPUTE_EVALUATE",
    } <= set(versions)


@pytest.mark.workflow("nextflow samplesheet two samples")
def test_samplesheet_outputs(workflow_dir):
    wd = Path(workflow_dir)
    for sample in ("sampleA", "sampleB"):
        _check_imputed(
            wd / f"results/gnnimpute/{sample}_imputed.h5ad",
            wd / f"inputs/{sample}.h5ad",
            same_cells=False,
        )
    versions = _versions(wd / "results/pipeline_info/software_versions.yml")
    assert set(versions) == {"GNNIMPUTE_IMPUTE", "Workflow"}
