"""`--preset paper` produces the published configuration; explicit options override it."""

import numpy as np
import pytest
from click.testing import CliRunner

import gnnimpute.api
from gnnimpute.cli import main
from gnnimpute.errors import InputError
from gnnimpute.presets import PRESETS, preset_options

PAPER = {
    "encoder_input": "genes",
    "n_input": 2000,
    "hidden": (512, 50),
    "heads": 3,
    "layer_type": "gat",
    "dropout": 0.5,
    "attn_dropout": 0.6,
    "lr": 1e-3,
    "weight_decay": 5e-4,
    "patience": 200,
    "min_delta": 0.0,
    "lr_patience": 0,
    "decoder": "level",
    "predict_draws": 0,
    "detection_shrink": 0.0,
    "blend": "level",
    "level_mix": 0.0,
}


def test_paper_preset_is_the_published_configuration():
    assert PRESETS["paper"] == PAPER
    with pytest.raises(InputError, match="unknown preset"):
        preset_options("nope")


def _cli_options(monkeypatch, tmp_path, sim_h5ad, *extra):
    seen = {}

    def fake_impute(adata, *, options, **_):  # record the options the API would get, train nothing
        seen.update(options.flat(), preset=options.preset)
        adata.layers["gnnimpute"] = np.zeros(adata.shape, dtype=np.float32)
        adata.uns["gnnimpute"] = {"params": {}, "history": {}, "best_epoch": 0, "epochs_run": 0,
                                  "wall_seconds": 0.0}  # fmt: skip
        return adata

    monkeypatch.setattr(gnnimpute.api, "impute", fake_impute)
    out = tmp_path / "out.h5ad"
    args = ["impute", str(sim_h5ad), str(out), "--no-qc", "--quiet", *extra]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    import anndata as ad

    return seen, ad.read_h5ad(out).uns["gnnimpute"]["params"]


def test_cli_preset_fills_defaults(monkeypatch, tmp_path, sim_h5ad):
    seen, _ = _cli_options(monkeypatch, tmp_path, sim_h5ad, "--preset", "paper")
    assert {k: seen[k] for k in PAPER} == PAPER
    assert seen["preset"] == "paper"  # recorded in uns params by the API


def test_cli_explicit_options_override_the_preset(monkeypatch, tmp_path, sim_h5ad):
    # 3e-3 and 256,50 are the defaults: given explicitly, they still win over the preset
    seen, _ = _cli_options(
        monkeypatch, tmp_path, sim_h5ad, "--preset", "paper", "--lr", "3e-3",
        "--hidden", "256,50", "--n-input", "100",
    )  # fmt: skip
    assert seen["lr"] == 3e-3 and seen["hidden"] == (256, 50) and seen["n_input"] == 100
    assert seen["dropout"] == 0.5 and seen["weight_decay"] == 5e-4


def test_cli_without_preset_keeps_defaults(monkeypatch, tmp_path, sim_h5ad):
    seen, _ = _cli_options(monkeypatch, tmp_path, sim_h5ad)
    assert seen["decoder"] == "hurdle" and seen["lr"] == 3e-3 and seen["weight_decay"] == 0.0
    assert seen["blend"] == "keep:expected" and seen["level_mix"] == 0.5
    assert seen["preset"] is None


def test_cli_fast_preset_stops_sooner_and_changes_nothing_else(monkeypatch, tmp_path, sim_h5ad):
    seen, _ = _cli_options(monkeypatch, tmp_path, sim_h5ad, "--preset", "fast")
    assert seen["patience"] == 20 and seen["min_delta"] == 0.01
    default, _ = _cli_options(monkeypatch, tmp_path, sim_h5ad, "--force")
    assert default["patience"] == 30 and default["min_delta"] == 0.0
    assert default["lr_patience"] == 10 and seen["lr_patience"] == 0
    changed = {k for k in default if default[k] != seen[k]}
    assert changed == {"patience", "min_delta", "lr_patience", "preset"}
