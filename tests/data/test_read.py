import gzip

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io
import scipy.sparse as sp

from gnnimpute.data.checks import validate_counts
from gnnimpute.data.read import read_input
from gnnimpute.errors import InputError
from gnnimpute.output.atomic import check_output_path, write_h5ad_atomic

COUNTS = np.array([[0, 1, 2], [3, 0, 0], [1, 1, 5], [0, 0, 7]], dtype=np.float32)


def _adata(x=COUNTS):
    return ad.AnnData(
        X=sp.csr_matrix(x),
        obs=pd.DataFrame(index=[f"c{i}" for i in range(x.shape[0])]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(x.shape[1])]),
    )


def test_read_h5ad_and_layer(tmp_path):
    a = _adata()
    a.layers["raw"] = sp.csr_matrix(COUNTS * 2)
    a.write_h5ad(tmp_path / "a.h5ad")
    got = read_input(tmp_path / "a.h5ad")
    assert sp.issparse(got.X) and got.X.dtype == np.float32
    np.testing.assert_array_equal(got.X.toarray(), COUNTS)
    np.testing.assert_array_equal(
        read_input(tmp_path / "a.h5ad", layer="raw").X.toarray(), COUNTS * 2
    )
    with pytest.raises(InputError, match="layer 'nope' not found"):
        read_input(tmp_path / "a.h5ad", layer="nope")


def test_read_csv_tsv_and_transpose(tmp_path):
    frame = pd.DataFrame(COUNTS, index=["c0", "c1", "c2", "c3"], columns=["g0", "g1", "g2"])
    frame.to_csv(tmp_path / "x.csv")
    with gzip.open(tmp_path / "x.tsv.gz", "wt") as fh:
        frame.T.to_csv(fh, sep="\t")
    a = read_input(tmp_path / "x.csv")
    b = read_input(tmp_path / "x.tsv.gz", transpose=True)
    for got in (a, b):
        assert list(got.obs_names) == ["c0", "c1", "c2", "c3"]
        assert list(got.var_names) == ["g0", "g1", "g2"]
        np.testing.assert_array_equal(got.X.toarray(), COUNTS)


def test_read_10x_folder(tmp_path):
    folder = tmp_path / "filtered_feature_bc_matrix"
    folder.mkdir()
    # 10x stores genes x cells
    scipy.io.mmwrite(folder / "matrix.mtx", sp.coo_matrix(COUNTS.T.astype(np.int64)))
    (folder / "features.tsv").write_text(
        "".join(f"ENSG{j}\tg{j}\tGene Expression\n" for j in range(3))
    )
    (folder / "barcodes.tsv").write_text("".join(f"c{i}\n" for i in range(4)))
    got = read_input(folder)
    assert got.shape == (4, 3)
    assert list(got.var_names) == ["g0", "g1", "g2"]
    np.testing.assert_array_equal(got.X.toarray(), COUNTS)


def test_read_10x_h5(tmp_path):
    csc = sp.csc_matrix(COUNTS.T.astype(np.int32))  # genes x cells, CSC over cells
    path = tmp_path / "filtered_feature_bc_matrix.h5"
    with h5py.File(path, "w") as f:
        m = f.create_group("matrix")
        m["barcodes"] = np.array([f"c{i}".encode() for i in range(4)])
        m["data"] = csc.data
        m["indices"] = csc.indices.astype(np.int64)
        m["indptr"] = csc.indptr.astype(np.int64)
        m["shape"] = np.array(csc.shape, dtype=np.int32)
        feat = m.create_group("features")
        feat["id"] = np.array([f"ENSG{j}".encode() for j in range(3)])
        feat["name"] = np.array([f"g{j}".encode() for j in range(3)])
        feat["feature_type"] = np.array([b"Gene Expression"] * 3)
        feat["genome"] = np.array([b"GRCh38"] * 3)
        feat["_all_tag_keys"] = np.array([b"genome"])
    got = read_input(path)
    assert got.shape == (4, 3)
    np.testing.assert_array_equal(got.X.toarray(), COUNTS)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not an hdf5 file", "cannot read"), (b"", "cannot read")],
)
def test_corrupt_input_is_one_line_error(tmp_path, content, message):
    path = tmp_path / "bad.h5ad"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_input(path)
    assert "\n" not in str(info.value)


def test_missing_and_unsupported_input(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_input(tmp_path / "nope.h5ad")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(InputError, match="unsupported input format"):
        read_input(tmp_path / "x.xlsx")
    with pytest.raises(InputError, match="not a 10x matrix folder"):
        read_input(tmp_path)


def test_duplicate_names_made_unique_with_warning(tmp_path):
    a = _adata()
    a.obs_names = ["c", "c", "d", "e"]
    a.var_names = ["g", "g", "h"]
    a.write_h5ad(tmp_path / "dup.h5ad")
    with pytest.warns(UserWarning, match="duplicate"):
        got = read_input(tmp_path / "dup.h5ad")
    assert got.obs_names.is_unique and got.var_names.is_unique


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1.0, "negative"),
        (np.nan, "NaN or infinite"),
        (np.inf, "NaN or infinite"),
        (0.5, "non-integer"),
    ],
)
def test_validate_rejects_non_counts(value, message):
    x = COUNTS.copy()
    x[0, 1] = value
    with pytest.raises(InputError, match=message):
        validate_counts(_adata(x))


def test_validate_allows_non_integer_when_asked():
    x = COUNTS.copy()
    x[0, 1] = 0.5
    validate_counts(_adata(x), allow_non_integer=True)


def test_validate_rejects_empty_and_too_few_cells():
    with pytest.raises(InputError, match="empty matrix"):
        validate_counts(_adata(np.zeros((0, 3), dtype=np.float32)))
    with pytest.raises(InputError, match="no non-zero counts"):
        validate_counts(_adata(np.zeros((4, 3), dtype=np.float32)))
    with pytest.raises(InputError, match="too few cells: 4"):
        validate_counts(_adata(), min_cells=6)


def test_output_checks(tmp_path):
    existing = tmp_path / "out.h5ad"
    existing.write_text("keep me")
    with pytest.raises(InputError, match="output exists"):
        check_output_path(existing)
    assert check_output_path(existing, force=True) == existing
    with pytest.raises(InputError, match="folder does not exist"):
        check_output_path(tmp_path / "missing" / "out.h5ad")
    with pytest.raises(InputError, match=r"must end in \.h5ad"):
        check_output_path(tmp_path / "out.csv")


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    a = _adata()
    target = tmp_path / "out.h5ad"

    def broken_write(self, filename, *args, **kwargs):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise KeyboardInterrupt  # as if Ctrl-C arrived mid-write

    monkeypatch.setattr(ad.AnnData, "write_h5ad", broken_write)
    with pytest.raises(KeyboardInterrupt):
        write_h5ad_atomic(a, target)
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.h5ad"
    target.write_text("old result")
    monkeypatch.setattr(
        ad.AnnData,
        "write_h5ad",
        lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space left")),
    )
    with pytest.raises(InputError, match="cannot write"):
        write_h5ad_atomic(_adata(), target, force=True)
    assert target.read_text() == "old result"
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5ad"]


def test_atomic_write_roundtrip(tmp_path):
    path = write_h5ad_atomic(_adata(), tmp_path / "out.h5ad")
    np.testing.assert_array_equal(ad.read_h5ad(path).X.toarray(), COUNTS)
