import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gnnimpute.data.qc import filter_cells_genes
from gnnimpute.errors import InputError


def _adata(x, genes=None):
    genes = genes or [f"g{j}" for j in range(x.shape[1])]
    return ad.AnnData(
        X=sp.csr_matrix(x.astype(np.float32)),
        obs=pd.DataFrame(index=[f"c{i}" for i in range(x.shape[0])]),
        var=pd.DataFrame(index=genes),
    )


def test_min_genes_then_min_cells():
    x = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 5]])
    a = _adata(x)
    kept, summary = filter_cells_genes(a, min_genes=2, min_cells=2)
    assert list(kept.obs_names) == ["c0", "c1", "c3"]
    # g3 appears in one kept cell only; gene rule runs on kept cells
    assert list(kept.var_names) == ["g0", "g1", "g2"]
    assert summary["cells_removed_by"]["min_genes"] == 1
    assert summary["genes_removed_by"]["min_cells"] == 1
    assert a.shape == (4, 4)  # input untouched


def test_mito_rule_applies_only_with_mito_names():
    x = np.array([[10, 0, 1], [1, 1, 1], [1, 1, 8]])
    named = _adata(x, genes=["mt-Co1", "Actb", "Gapdh"])
    kept, summary = filter_cells_genes(named, min_genes=0, min_cells=0, max_pct_mt=50)
    assert list(kept.obs_names) == ["c1", "c2"]
    assert summary["max_pct_mt_applied"] and summary["cells_removed_by"]["max_pct_mt"] == 1
    with pytest.warns(UserWarning, match="--max-pct-mt was not applied"):
        kept, summary = filter_cells_genes(_adata(x), min_genes=0, min_cells=0, max_pct_mt=50)
    assert kept.n_obs == 3 and not summary["max_pct_mt_applied"]


def test_max_counts_and_max_genes():
    x = np.array([[100, 1, 1], [1, 1, 0], [2, 2, 2]])
    kept, s = filter_cells_genes(_adata(x), min_genes=0, min_cells=0, max_counts=50, max_genes=2)
    assert list(kept.obs_names) == ["c1"]
    assert s["cells_removed_by"] == {"min_genes": 0, "max_genes": 2, "max_counts": 0}


def test_qc_removing_everything_is_an_error():
    with pytest.raises(InputError, match="QC removed every cell"):
        filter_cells_genes(_adata(np.ones((3, 3))), min_genes=200)
    with pytest.raises(InputError, match="QC removed every gene"):
        filter_cells_genes(_adata(np.ones((3, 3))), min_genes=0, min_cells=10)


def test_mito_rule_reads_gene_symbols_when_var_names_are_ensembl_ids():
    # nf-core/scrnaseq 4.0 output: Ensembl IDs as var_names, symbols in a column
    x = np.array([[10, 0, 1], [1, 1, 1], [1, 1, 8]])
    for column in ("gene_symbols", "gene_symbol"):
        a = _adata(x, genes=["ENSMUSG00000064351", "ENSMUSG00000029580", "ENSMUSG00000057666"])
        a.var[column] = ["mt-Co1", "Actb", "Gapdh"]
        kept, summary = filter_cells_genes(a, min_genes=0, min_cells=0, max_pct_mt=50)
        assert list(kept.obs_names) == ["c1", "c2"]
        assert summary["max_pct_mt_applied"]
        assert summary["mito_genes_from"] == f"var['{column}']"
        assert summary["n_mito_genes"] == 1
        assert summary["cells_removed_by"]["max_pct_mt"] == 1
        assert a.var_names[0] == "ENSMUSG00000064351"  # input untouched


def test_mito_rule_warns_and_reports_when_no_mito_gene_can_be_found():
    x = np.array([[10, 0, 1], [1, 1, 1], [1, 1, 8]])
    a = _adata(x, genes=["ENSG00000198804", "ENSG00000075624", "ENSG00000111640"])
    a.var["gene_ids"] = list(a.var_names)  # IDs only, no symbols
    with pytest.warns(UserWarning, match="--max-pct-mt was not applied"):
        kept, summary = filter_cells_genes(a, min_genes=0, min_cells=0, max_pct_mt=50)
    assert kept.n_obs == 3
    assert summary["max_pct_mt_applied"] is False and summary["mito_genes_from"] is None
    assert "max_pct_mt" not in summary["cells_removed_by"]


def test_mito_names_win_over_symbol_columns():
    x = np.array([[10, 0, 1], [1, 1, 1], [1, 1, 8]])
    a = _adata(x, genes=["MT-CO1", "ACTB", "GAPDH"])
    a.var["gene_symbols"] = ["ACTB", "MT-CO1", "GAPDH"]  # contradicting column is ignored
    kept, summary = filter_cells_genes(a, min_genes=0, min_cells=0, max_pct_mt=50)
    assert summary["mito_genes_from"] == "var_names"
    assert list(kept.obs_names) == ["c1", "c2"]
