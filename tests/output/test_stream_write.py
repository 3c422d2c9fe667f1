"""Streamed output: the same values as in memory, written chunk by chunk and atomically."""

import anndata as ad
import numpy as np
import pytest
from shared_helpers import FAST, counts_only

import gnnimpute
from gnnimpute.errors import InputError
from gnnimpute.output.stream_write import fill_layers, should_stream, write_h5ad_streamed


def test_streamed_output_equals_in_memory_output(sim_adata, tmp_path):
    path = tmp_path / "out.h5ad"
    kept = gnnimpute.impute(counts_only(sim_adata), **{**FAST, "epochs": 3})
    streamed = gnnimpute.impute(
        counts_only(sim_adata), stream_to=str(path), **{**FAST, "epochs": 3}
    )
    assert "gnnimpute" not in streamed.layers  # never held in memory
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.layers["gnnimpute"], kept.layers["gnnimpute"])
    np.testing.assert_array_equal(back.obsm["X_gnnimpute"], kept.obsm["X_gnnimpute"])
    assert back.uns["gnnimpute"]["best_epoch"] == kept.uns["gnnimpute"]["best_epoch"]
    backed = ad.read_h5ad(path, backed="r")
    np.testing.assert_array_equal(backed.layers["gnnimpute"][5:9], kept.layers["gnnimpute"][5:9])
    backed.file.close()
    assert list(tmp_path.iterdir()) == [path]  # the temporary file was renamed, not left behind


def test_streamed_writer_is_generic_compressed_and_atomic(tmp_path):
    n, genes = 1000, 7
    adata = ad.AnnData(X=np.ones((n, genes), dtype=np.float32))
    adata.layers["mine"] = np.full((n, genes), 3.0, dtype=np.float32)  # the user's layer stays

    def chunk(rows):
        base = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None]
        return {"a": base + np.zeros((1, genes), np.float32), "b": -base.repeat(genes, 1)}

    path = tmp_path / "x.h5ad"
    write_h5ad_streamed(adata, path, chunk, rows_per_chunk=128, compression="gzip")
    back = ad.read_h5ad(path)
    expected = fill_layers(chunk, n, rows_per_chunk=300)
    np.testing.assert_array_equal(back.layers["a"], expected["a"])
    np.testing.assert_array_equal(back.layers["b"], expected["b"])
    assert back.layers["b"][999, 6] == -999 and back.layers["a"][999, 0] == 999
    np.testing.assert_array_equal(back.layers["mine"], adata.layers["mine"])

    def failing(rows):
        if rows.start >= 256:
            raise RuntimeError("boom")
        return chunk(rows)

    with pytest.raises(RuntimeError, match="boom"):
        write_h5ad_streamed(adata, tmp_path / "y.h5ad", failing, rows_per_chunk=128)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.h5ad"]  # nothing partial left
    with pytest.raises(InputError, match="exists"):
        write_h5ad_streamed(adata, path, chunk)
    with pytest.raises(ValueError, match="7 genes"):
        write_h5ad_streamed(adata, tmp_path / "z.h5ad", lambda rows: {"a": np.zeros((3, 2))})


def test_auto_streaming_threshold():
    assert not should_stream(10_000, 2_000)  # 80 MB
    assert should_stream(100_000, 15_000)  # 6 GB
    assert should_stream(10, 10, choice=True) and not should_stream(10**6, 10**4, choice=False)
