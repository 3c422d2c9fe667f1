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
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
VERSION = version("gnnimpute")  # what the modules report: the installed package


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


def _run(host: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
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
    if check:
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    return res


def _published(host: Path) -> dict[str, set[str]]:
    out = {}
    for folder in sorted((host / "results").iterdir()):
        if folder.name != "pipeline_info":
            out[folder.name] = {p.name for p in folder.iterdir()}
    return out


COMBINED = {
    t: {f"combined_{t}_matrix.h5ad"}
    for t in (
        "raw",
        "filtered",
        "cellbender_filter",
        "filtered_imputed",
        "cellbender_filter_imputed",
    )
}
EXPECTED = {
    "raw": {"S1_raw_matrix.h5ad", "S2_raw_matrix.h5ad", *COMBINED["raw"]},
    # the imputed matrices are published beside their input, named with their input_type
    "filtered": {
        "S1_filtered_matrix.h5ad", "S2_filtered_matrix.h5ad",
        "S1_filtered_imputed_matrix.h5ad", "S2_filtered_imputed_matrix.h5ad",
        *COMBINED["filtered"],
    },
    "cellbender_filter": {
        "S1_cellbender_filter_imputed_matrix.h5ad", "S2_cellbender_filter_imputed_matrix.h5ad",
        *COMBINED["cellbender_filter"],
    },
    "filtered_imputed": COMBINED["filtered_imputed"],
    "cellbender_filter_imputed": COMBINED["cellbender_filter_imputed"],
}  # fmt: skip


def _check_layout(host: Path) -> dict:
    published = _published(host)
    # cellbender_filter reuses the raw files (the mock does not run cellbender)
    published["cellbender_filter"] -= {"S1_raw_matrix.h5ad", "S2_raw_matrix.h5ad"}
    assert published == EXPECTED
    versions = yaml.safe_load(
        (host / "results/pipeline_info/nf_core_scrnaseq_software_mqc_versions.yml").read_text()
    )
    assert set(versions) == {"MOCK_MTX_TO_H5AD", "MOCK_CONCAT_H5AD", "GNNIMPUTE_IMPUTE"}
    assert set(versions["GNNIMPUTE_IMPUTE"]) == {"gnnimpute", "torch"}
    assert str(versions["GNNIMPUTE_IMPUTE"]["gnnimpute"]) == VERSION
    return versions


@pytest.mark.slow
def test_module_and_subworkflow_stub_run_alone_in_a_scrnaseq_host(host):
    _run(host, "-stub-run")
    _check_layout(host)
    assert not (host / "bin").exists() and not (host / "conf").exists()


@pytest.mark.slow
def test_a_misspelt_or_removed_input_type_stops_the_run(host):
    res = _run(host, "-stub-run", "--impute_types", "filtered,emptydrops_filter", check=False)
    assert res.returncode != 0
    assert (
        "SCRNASEQ_IMPUTE: unknown input_type emptydrops_filter; nf-core/scrnaseq 4.0 has raw, "
        "filtered, cellbender_filter" in res.stdout + res.stderr
    )


@pytest.mark.slow
def test_scrnaseq_concatenation_of_imputed_samples_keeps_every_gene(host):
    """4.0.0's CONCAT_H5AD (an inner join) on two imputed samples whose undetected genes differ:
    every gene, cell and chosen layer survives, and no embedding is merged across samples."""
    anndata = pytest.importorskip("anndata")
    _run(host)
    _check_layout(host)
    res = host / "results"
    for sample, n_cells in (("S1", 50), ("S2", 40)):
        src = anndata.read_h5ad(res / f"filtered/{sample}_filtered_matrix.h5ad")
        out = anndata.read_h5ad(res / f"filtered/{sample}_filtered_imputed_matrix.h5ad")
        assert out.shape == src.shape == (n_cells, 80)
        assert list(out.var_names) == list(src.var_names)  # no per-sample gene QC
        assert list(out.obs_names) == list(src.obs_names)  # cell QC is scrnaseq's
        assert sorted(out.layers) == ["count", "gnnimpute", "gnnimpute_level"]
        assert list(out.obsm) == [f"X_gnnimpute_{sample}_filtered"]
        assert out.uns["gnnimpute"]["params"]["device"] == "cpu"  # no accelerator: CPU
    for kind in ("filtered", "cellbender_filter"):
        combined = anndata.read_h5ad(res / f"{kind}_imputed/combined_{kind}_imputed_matrix.h5ad")
        before = anndata.read_h5ad(res / f"{kind}/combined_{kind}_matrix.h5ad")
        assert combined.n_vars == 80 and list(combined.var_names) == list(before.var_names)
        assert combined.n_obs == before.n_obs == (90 if kind == "filtered" else 116)
        assert sorted(combined.obs["sample"].unique()) == [
            f"S1_{kind}_imputed",
            f"S2_{kind}_imputed",
        ]
        assert sorted(combined.layers) == ["count", "gnnimpute", "gnnimpute_level"]
        assert len(combined.obsm) == 0  # per-sample embeddings are not one space
        # each sample's undetected block is still there, imputed from its own sample only
        assert combined.var["gene_symbols"].tolist()[60] == "Gene60"
        np.testing.assert_array_equal(combined.X.toarray(), before.X.toarray())


def test_the_mock_concat_is_scrnaseq_4_concatenation_and_drops_genes_after_gene_qc(tmp_path):
    """The template, run as Nextflow fills it in, on two samples with different genes: the
    inner join that lost genes when each sample had its own gene QC."""
    anndata = pytest.importorskip("anndata")
    import scipy.sparse as sp

    template = (ROOT / "tests/scrnaseq_host/modules/local/templates/concat_h5ad.py").read_text()
    filled = (
        template.replace("${samplesheet}", "samplesheet.csv")
        .replace("${meta.id}", "combined")
        .replace("${meta.input_type}", "filtered_imputed")
        .replace("${task.process}", "MOCK_CONCAT_H5AD")
        .replace("\\\\", "\\")
    )
    (tmp_path / "samplesheet.csv").write_text("sample,fastq_1\nS1,a\nS1,b\nS2,c\n")
    for name, genes in (("S1", ["g0", "g1", "g2"]), ("S2", ["g0", "g2", "g3"])):
        a = anndata.AnnData(X=sp.csr_matrix(np.ones((2, 3), np.float32)))
        a.obs_names, a.var_names = ["c0", "c1"], genes
        a.layers["gnnimpute"] = np.full((2, 3), 2.0, np.float32)
        a.obsm[f"X_gnnimpute_{name}"] = np.zeros((2, 4), np.float32)
        a.write_h5ad(tmp_path / f"{name}_filtered_imputed_matrix.h5ad")
    (tmp_path / "concat.py").write_text(filled)
    subprocess.run([sys.executable, "concat.py"], cwd=tmp_path, check=True)
    out = anndata.read_h5ad(tmp_path / "combined_filtered_imputed_matrix.h5ad")
    assert list(out.var_names) == ["g0", "g2"]  # the inner join: g1 and g3 are lost
    assert list(out.obs_names) == [
        "c0_S1_filtered_imputed", "c1_S1_filtered_imputed",
        "c0_S2_filtered_imputed", "c1_S2_filtered_imputed",
    ]  # fmt: skip
    assert list(out.layers) == ["gnnimpute"] and len(out.obsm) == 0
    assert (tmp_path / "versions.yml").read_text().startswith('"MOCK_CONCAT_H5AD":\n    anndata: ')
