"""The impute module and the SCRNASEQ_IMPUTE subworkflow, copied ALONE into a mock
nf-core/scrnaseq 4.0 host (tests/scrnaseq_host), run there: stub and real.

This is the module's self-containment test (nothing of this pipeline's bin/, conf/ or
nextflow.config travels with it) and the scrnaseq 4.0 drop-in test: 4.0's channel shape
[meta, "<id>_<input_type>_matrix.h5ad"], Ensembl var_names with var['gene_symbols'], the
cellbender renaming, H5AD_CONVERSION's grouping by input_type and its versions.yml reader.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def host(tmp_path) -> Path:
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: Nextflow cannot run (make setup installs it)")
    host = tmp_path / "host"
    shutil.copytree(ROOT / "tests/scrnaseq_host", host)
    shutil.copytree(
        ROOT / "modules/local/gnnimpute/impute", host / "modules/local/gnnimpute/impute"
    )
    shutil.copytree(
        ROOT / "subworkflows/local/scrnaseq_impute", host / "subworkflows/local/scrnaseq_impute"
    )
    return host


def _run(host: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # the package's Python (with gnnimpute) stands in for the container image
    env["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), str(ROOT / "scripts"), env["PATH"]]
    )
    env.setdefault("NXF_JARS_CACHE", str(ROOT / ".cache" / "nextflow"))
    env.update(
        NXF_OFFLINE="true",
        NXF_ANSI_LOG="false",
        NXF_DISABLE_CHECK_LATEST="true",
        NXF_HOME=str(host / ".nxf-home"),
        NXF_OPTS="-Xms256m -Xmx1g",
    )
    res = subprocess.run(
        [str(ROOT / "scripts/nextflow"), "run", "main.nf", *args],
        cwd=host,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return res


def _published(host: Path) -> dict[str, set[str]]:
    out = {}
    for folder in sorted((host / "results").iterdir()):
        if folder.name != "pipeline_info":
            out[folder.name] = {p.name for p in folder.iterdir()}
    return out


EXPECTED = {
    "raw": {"S1_raw_matrix.h5ad", "combined_raw_matrix.txt"},
    "filtered": {"S1_filtered_matrix.h5ad", "combined_filtered_matrix.txt"},
    "cellbender_filter": {"combined_cellbender_filter_matrix.txt"},
    "filtered_imputed": {"S1_filtered_imputed_matrix.h5ad", "combined_filtered_imputed_matrix.txt"},
    "cellbender_filter_imputed": {
        "S1_cellbender_filter_imputed_matrix.h5ad",
        "combined_cellbender_filter_imputed_matrix.txt",
    },
}


def _check_layout(host: Path) -> dict:
    published = _published(host)
    # cellbender_filter reuses the raw file (the mock does not run cellbender)
    published["cellbender_filter"].discard("S1_raw_matrix.h5ad")
    assert published == EXPECTED
    # H5AD_CONVERSION groups per input_type: imputed matrices never join another caller's
    concat = (host / "results/filtered_imputed/combined_filtered_imputed_matrix.txt").read_text()
    assert concat.split() == ["S1_filtered_imputed_matrix.h5ad"]
    versions = yaml.safe_load(
        (host / "results/pipeline_info/nf_core_scrnaseq_software_mqc_versions.yml").read_text()
    )
    assert set(versions) == {"MOCK_MTX_TO_H5AD", "GNNIMPUTE_IMPUTE"}
    assert set(versions["GNNIMPUTE_IMPUTE"]) == {"gnnimpute", "torch"}
    assert str(versions["GNNIMPUTE_IMPUTE"]["gnnimpute"]) == "0.1.0"
    return versions


@pytest.mark.slow
def test_module_and_subworkflow_stub_run_alone_in_a_scrnaseq_host(host):
    _run(host, "-stub-run")
    _check_layout(host)
    assert not (host / "bin").exists() and not (host / "conf").exists()


@pytest.mark.slow
def test_module_and_subworkflow_run_alone_in_a_scrnaseq_host(host):
    anndata = pytest.importorskip("anndata")
    _run(host)
    _check_layout(host)
    for kind, n_cells in (("filtered", 50), ("cellbender_filter", 60)):
        src = (
            anndata.read_h5ad(host / f"results/{kind}/S1_{kind}_matrix.h5ad")
            if kind == "filtered"
            else None
        )
        out = anndata.read_h5ad(host / f"results/{kind}_imputed/S1_{kind}_imputed_matrix.h5ad")
        assert "gnnimpute" in out.layers and out.n_vars <= 80
        qc = out.uns["gnnimpute"]["qc"]
        # Ensembl var_names: the mito rule found the genes through var['gene_symbols']
        assert qc["max_pct_mt_applied"] is True
        assert qc["mito_genes_from"] == "var['gene_symbols']" and qc["n_mito_genes"] == 3
        assert qc["n_cells_in"] == n_cells
        assert 0 < qc["cells_removed_by"]["max_pct_mt"] <= n_cells // 5 + 1
        assert out.var_names[0].startswith("ENSMUSG")
        if src is not None:
            assert set(out.obs_names) < set(src.obs_names)
        assert out.uns["gnnimpute"]["params"]["device"] == "cpu"  # no accelerator: CPU
