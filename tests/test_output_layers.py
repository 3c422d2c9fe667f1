"""`impute --layers` and `--embedding-key`: which dense layers and which obsm key are written."""

import anndata as ad
import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from shared_helpers import FAST_CLI

from gnnimpute.cli import main
from gnnimpute.errors import InputError
from gnnimpute.output.layers import LAYER_NAMES, parse_layers, resolve_embedding_key, select_layers

RUN = [*FAST_CLI, "--no-qc", "--threads", "1", "--seed", "3"]


def _impute(src, out, *args):
    result = CliRunner().invoke(main, ["impute", str(src), str(out), *RUN, *map(str, args)])
    return result


def _h5_keys(path, group):
    with h5py.File(path, "r") as f:
        return sorted(f[group].keys()) if group in f else []


def test_parse_layers_orders_and_checks_names():
    assert parse_layers("expected,gnnimpute,level,level") == ("gnnimpute", "level", "expected")
    assert parse_layers(" detection ") == ("detection",)
    assert parse_layers("all") == LAYER_NAMES
    assert parse_layers("all", decoder="level") == ("gnnimpute",)
    assert parse_layers(None) == ("gnnimpute", "level", "detection")  # the API's default
    assert parse_layers(None, decoder="level") == ("gnnimpute",)
    with pytest.raises(InputError, match=r"^--layers: unknown layer 'levl'; choose from "
                       r"gnnimpute, level, detection, expected or all$"):  # fmt: skip
        parse_layers("gnnimpute,levl")
    with pytest.raises(InputError, match="unknown layer ''"):
        parse_layers("")
    with pytest.raises(InputError, match="--layers level needs the hurdle decoder"):
        parse_layers("gnnimpute,level", decoder="level")


def test_select_layers_computes_expected_and_keeps_the_rest():
    level = np.array([[2.0, 4.0]], dtype=np.float32)
    det = np.array([[0.5, 0.25]], dtype=np.float32)
    computed = {"g": np.ones((1, 2), np.float32), "g_level": level, "g_detection": det}
    out = select_layers(computed, ("gnnimpute", "expected"), "g")
    assert sorted(out) == ["g", "g_expected"]
    np.testing.assert_array_equal(out["g_expected"], [[1.0, 1.0]])
    assert out["g_expected"].dtype == np.float32 and out["g"] is computed["g"]


def test_embedding_key_auto_none_and_bad_names():
    assert resolve_embedding_key("auto", "gnnimpute") == "X_gnnimpute"
    assert resolve_embedding_key("X_gnnimpute_S1", "gnnimpute") == "X_gnnimpute_S1"
    assert resolve_embedding_key("none", "gnnimpute") is None
    assert resolve_embedding_key("None", "gnnimpute") is None
    assert resolve_embedding_key(None, "gnnimpute") is None
    for bad in ("", "a/b", " X"):
        with pytest.raises(InputError, match="--embedding-key"):
            resolve_embedding_key(bad, "gnnimpute")


def test_default_run_writes_only_the_default_layer_with_unchanged_values(tmp_path, sim_h5ad):
    default, everything = tmp_path / "default.h5ad", tmp_path / "all.h5ad"
    assert _impute(sim_h5ad, default).exit_code == 0
    result = _impute(sim_h5ad, everything, "--layers", "all", "--embedding-key", "X_gnnimpute_S1")
    assert result.exit_code == 0, result.output
    assert _h5_keys(default, "layers") == ["gnnimpute"]
    assert _h5_keys(default, "obsm") == ["X_gnnimpute"]
    assert _h5_keys(everything, "layers") == [
        "gnnimpute", "gnnimpute_detection", "gnnimpute_expected", "gnnimpute_level",
    ]  # fmt: skip
    assert _h5_keys(everything, "obsm") == ["X_gnnimpute_S1"]
    a, b = ad.read_h5ad(default), ad.read_h5ad(everything)
    # the layers written do not change what is computed: the same bytes
    assert a.layers["gnnimpute"].tobytes() == b.layers["gnnimpute"].tobytes()
    assert a.obsm["X_gnnimpute"].tobytes() == b.obsm["X_gnnimpute_S1"].tobytes()
    assert (a.X != b.X).nnz == 0
    pa, pb = a.uns["gnnimpute"]["params"], b.uns["gnnimpute"]["params"]
    assert pa.keys() == pb.keys()
    assert all(np.array_equal(pa[k], pb[k]) for k in pa if pa[k] is not None)
    np.testing.assert_array_equal(
        b.layers["gnnimpute_expected"],
        b.layers["gnnimpute_level"] * b.layers["gnnimpute_detection"],
    )


def test_streamed_output_writes_the_same_chosen_layers(tmp_path, sim_h5ad):
    plain, streamed = tmp_path / "plain.h5ad", tmp_path / "streamed.h5ad"
    for out, chunked in ((plain, "--no-out-chunked"), (streamed, "--out-chunked")):
        result = _impute(sim_h5ad, out, "--layers", "level,expected", "--embedding-key", "none",
                         chunked)  # fmt: skip
        assert result.exit_code == 0, result.output
        assert _h5_keys(out, "layers") == ["gnnimpute_expected", "gnnimpute_level"]
        assert _h5_keys(out, "obsm") == []
    a, b = ad.read_h5ad(plain), ad.read_h5ad(streamed)
    for key in ("gnnimpute_expected", "gnnimpute_level"):
        assert a.layers[key].tobytes() == np.asarray(b.layers[key]).tobytes()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--layers", "gnnimpute,counts"), "choose from gnnimpute, level, detection, expected"),
        (("--layers", "level", "--decoder", "level"), "needs the hurdle decoder"),
        (("--embedding-key", "a/b"), "--embedding-key 'a/b'"),
    ],
)
def test_bad_choices_fail_in_one_line_before_reading(tmp_path, sim_h5ad, args, message):
    before = sim_h5ad.read_bytes()
    out = tmp_path / "out.h5ad"
    result = _impute(sim_h5ad, out, *args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not out.exists() and sim_h5ad.read_bytes() == before


def test_api_writes_only_the_chosen_layers(sim_adata):
    from shared_helpers import FAST

    from gnnimpute.api import impute

    a = sim_adata.copy()
    del a.layers["truth"]
    impute(a, **FAST, embedding_key="none", layers=("detection",))
    assert list(a.layers) == ["gnnimpute_detection"] and "X_gnnimpute" not in a.obsm


def test_help_names_the_default_output_and_the_layers_option():
    text = " ".join(CliRunner().invoke(main, ["impute", "--help"]).output.split())
    assert "adds layers['gnnimpute']" in text and "obsm['X_gnnimpute'] (--embedding-key)" in text
    for name in ("--layers adds gnnimpute_level", "gnnimpute_detection", "gnnimpute_expected"):
        assert name in text
