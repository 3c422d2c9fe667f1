"""Checks of the pipeline's published files that need Python (pytest-workflow custom tests).

Each test runs after the named workflow of test_pipeline.yml and gets its folder as
`workflow_dir`. They assert values and scales, not only that files exist: an output at
the wrong scale, a metrics file of another run or a run with other options must fail.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

anndata = pytest.importorskip("anndata")

LAYER = "gnnimpute"
EMBEDDING = "X_gnnimpute"


def _dense(m) -> np.ndarray:
    return m.toarray() if hasattr(m, "toarray") else np.asarray(m)


def _check_imputed(imputed_path: Path, input_path: Path, *, same_cells: bool, params: dict) -> None:
    inp = anndata.read_h5ad(input_path)
    out = anndata.read_h5ad(imputed_path)
    assert LAYER in out.layers, f"{imputed_path.name} has no layers['{LAYER}']"
    assert out.layers[LAYER].shape == out.shape
    assert out.obsm[EMBEDDING].shape == (out.n_obs, 50)  # bottleneck of the default --hidden
    assert np.isfinite(out.obsm[EMBEDDING]).all()
    run = out.uns[LAYER]
    for key, value in params.items():
        assert run["params"][key] == value, f"uns['gnnimpute']['params']['{key}']"
    assert 1 <= run["epochs_run"] <= params.get("epochs", 3000)

    if same_cells:
        # --skip_qc: every input cell and gene is kept, in order
        assert list(out.obs_names) == list(inp.obs_names)
        assert list(out.var_names) == list(inp.var_names)
    else:
        assert 0 < out.n_obs <= inp.n_obs and 0 < out.n_vars <= inp.n_vars
        assert set(out.obs_names) <= set(inp.obs_names)
        assert set(out.var_names) <= set(inp.var_names)
    # X keeps the raw counts of the kept cells and genes
    raw = _dense(inp[out.obs_names, out.var_names].X)
    x = _dense(out.X)
    np.testing.assert_array_equal(x, raw)

    # the imputed layer is in normalized-count space: counts x median(L)/L_i
    imputed = _dense(out.layers[LAYER]).astype(np.float64)
    assert np.isfinite(imputed).all() and imputed.min() >= 0
    lib = x.sum(axis=1)
    target = np.median(lib)
    ratio = np.median(imputed.sum(axis=1)) / target
    assert 0.7 < ratio < 1.5, f"imputed row sums are {ratio:.2f} x median(L): wrong scale"
    observed = x > 0
    scaled = (x * (target / lib)[:, None])[observed]
    assert np.corrcoef(imputed[observed], scaled)[0, 1] > 0.9
    assert 0.5 < np.median(imputed[observed] / scaled) < 2.0
    # dropout is filled in: more non-zero entries than observed
    assert (imputed > 0).sum() > observed.sum()


def _versions(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict) and "Workflow" in data
    assert str(data["Workflow"]["Nextflow"]).startswith(("24.", "25."))
    assert str(data["Workflow"]["gnnimpute-pipeline"]) == "0.2.0"
    return data


@pytest.mark.workflow("nextflow test profile")
def test_test_profile_outputs(workflow_dir):
    results = Path(workflow_dir, "results")
    simulated = results / "simulate/simulated.h5ad"
    _check_imputed(
        results / "gnnimpute/simulated_imputed.h5ad",
        simulated,
        same_cells=True,
        params={"k": 5, "n_pcs": 20, "heads": 3, "epochs": 30, "patience": 10, "device": "cpu"},
    )
    sim = anndata.read_h5ad(simulated)
    assert sim.shape == (300, 500) and sim.obs["group"].nunique() == 3

    from importlib.metadata import version

    versions = _versions(results / "pipeline_info/software_versions.yml")
    assert set(versions) == {
        "GNNIMPUTE_SIMULATE",
        "GNNIMPUTE_IMPUTE",
        "GNNIMPUTE_MASK",
        "GNNIMPUTE_IMPUTE_MASKED",
        "GNNIMPUTE_EVALUATE",
        "Workflow",
    }
    for proc in set(versions) - {"Workflow"}:
        assert str(versions[proc]["gnnimpute"]) == version("gnnimpute")
    import torch

    assert str(versions["GNNIMPUTE_IMPUTE"]["torch"]) == torch.__version__

    # metrics of this run: the masking of --mask_rate 0.1 on the 300 x 500 simulation
    metrics = json.loads((results / "benchmark/simulated.metrics.json").read_text())
    assert metrics["protocol"] == "mask" and metrics["rate"] == 0.1
    assert (metrics["n_cells"], metrics["n_genes"]) == (300, 500)
    nnz = int((_dense(sim.X) > 0).sum())
    assert 0.05 * nnz < metrics["n_hidden"] <= 0.1 * nnz
    assert metrics["n_cells_pcc"] <= 300
    # hidden counts are predicted in the right space: correlated, and errors consistent
    assert 0.8 < metrics["pcc"] <= 1 and 0.8 < metrics["cosine"] <= 1
    assert 0 < metrics["mae"] and metrics["mae"] ** 2 <= metrics["mse"]
    # --label_key group from the test profile: clustering scores on its 3 labels
    assert metrics["n_labels"] == 3
    for key in ("ari_kmeans", "ari_leiden"):
        assert -1 <= metrics[key] <= 1
    for key in ("nmi_kmeans", "nmi_leiden"):
        assert 0 <= metrics[key] <= 1

    # the summary TSV holds exactly the JSON's values
    with open(results / "benchmark/metrics_summary.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [r["sample"] for r in rows] == ["simulated"]
    for key, value in metrics.items():
        cell = rows[0][key]
        if isinstance(value, float):
            assert float(cell) == pytest.approx(value, rel=1e-12), key
        else:
            assert cell == str(value), key
    assert list(Path(results, "pipeline_info").glob("execution_trace_*.txt"))


@pytest.mark.workflow("nextflow test profile stub")
def test_stub_versions(workflow_dir):
    versions = _versions(Path(workflow_dir, "results/pipeline_info/software_versions.yml"))
    assert set(versions) == {
        "GNNIMPUTE_SIMULATE",
        "GNNIMPUTE_IMPUTE",
        "GNNIMPUTE_MASK",
        "GNNIMPUTE_IMPUTE_MASKED",
        "GNNIMPUTE_EVALUATE",
        "Workflow",
    }
    assert set(versions["GNNIMPUTE_IMPUTE"]) == {"gnnimpute", "torch"}
    assert set(versions["GNNIMPUTE_MASK"]) == {"gnnimpute"}


@pytest.mark.workflow("nextflow samplesheet two samples")
def test_samplesheet_outputs(workflow_dir):
    wd = Path(workflow_dir)
    for sample in ("sampleA", "sampleB"):
        _check_imputed(
            wd / f"results/gnnimpute/{sample}_imputed.h5ad",
            wd / f"inputs/{sample}.h5ad",
            same_cells=False,
            params={"epochs": 10, "patience": 5, "k": 5},
        )
        qc = anndata.read_h5ad(wd / f"results/gnnimpute/{sample}_imputed.h5ad").uns[LAYER]["qc"]
        assert qc["thresholds"]["min_genes"] == 5 and qc["thresholds"]["min_cells"] == 1
    versions = _versions(wd / "results/pipeline_info/software_versions.yml")
    assert set(versions) == {"GNNIMPUTE_IMPUTE", "Workflow"}


@pytest.mark.workflow("nextflow fake slurm gpu")
def test_slurm_gpu_tasks_ask_for_a_gpu(workflow_dir):
    text = Path(workflow_dir, "sbatch_headers.txt").read_text()
    jobs = {}
    for block in text.split("== ")[1:]:
        lines = block.splitlines()
        name = next(line for line in lines if line.startswith("#SBATCH -J")).split("nf-")[1]
        # nf-GNNIMPUTE_GNNIMPUTE_MASK_(simulated): the GNNIMPUTE workflow, then the process
        workflow, _, process = name.split("_(")[0].partition("_")
        assert workflow == "GNNIMPUTE", name
        jobs[process] = lines
    assert set(jobs) == {
        "GNNIMPUTE_SIMULATE",
        "GNNIMPUTE_MASK",
        "GNNIMPUTE_IMPUTE",
        "GNNIMPUTE_IMPUTE_MASKED",
        "GNNIMPUTE_EVALUATE",
    }
    for name, lines in jobs.items():
        wants_gpu = name in ("GNNIMPUTE_IMPUTE", "GNNIMPUTE_IMPUTE_MASKED")
        assert ("#SBATCH --gres=gpu:1" in lines) == wants_gpu, name


@pytest.mark.workflow("nextflow samplesheet shell injection")
def test_samplesheet_payload_created_no_file(workflow_dir):
    # before the fix, the evaluate task ran `touch PWNED` in its work dir
    assert not list(Path(workflow_dir).rglob("PWNED*"))
    assert not Path(workflow_dir, "work").exists() or not list(
        Path(workflow_dir, "work").rglob(".command.sh")
    )


@pytest.mark.workflow("nextflow parameter shell injection")
def test_parameter_payloads_created_no_file(workflow_dir):
    assert not list(Path(workflow_dir).rglob("PWNED*"))
    assert not Path(workflow_dir, "work").exists() or not list(
        Path(workflow_dir, "work").rglob(".command.sh")
    )


@pytest.mark.workflow("nextflow samplesheet layer column with the benchmark")
def test_layer_column_reaches_mask_and_both_imputations(workflow_dir):
    inputs, results = workflow_dir / "inputs", workflow_dir / "results"
    counts = _dense(anndata.read_h5ad(inputs / "sampleA_layers.h5ad").layers["counts"])
    imputed = anndata.read_h5ad(results / "gnnimpute/sampleL_imputed.h5ad")
    assert imputed.uns[LAYER]["params"]["layer"] == "counts"
    # the masking hid counts of the layer (integers), not of the log-normalised X
    metrics = json.loads((results / "benchmark/sampleL.metrics.json").read_text())
    assert metrics["protocol"] == "mask" and metrics["n_cells"] == counts.shape[0]
    nnz = int((counts > 0).sum())
    assert 0.05 * nnz < metrics["n_hidden"] <= 0.1 * nnz
    assert np.isfinite(metrics["mae"]) and metrics["mae"] > 0
