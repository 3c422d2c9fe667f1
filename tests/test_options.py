"""The options objects are the only source of every default: the CLI, the API and `uns` follow them."""

import dataclasses

import anndata as ad
import pytest
from click.testing import CliRunner

import gnnimpute
from gnnimpute.cli import impute as impute_command
from gnnimpute.cli import main
from gnnimpute.errors import InputError
from gnnimpute.options import (
    DEFAULTS,
    GROUP_OF,
    GROUPS,
    GraphOptions,
    ImputeOptions,
    ModelOptions,
    OutputOptions,
    TrainingOptions,
    build_options,
)
from gnnimpute.presets import PRESETS

# options the command line does not offer: they tune the benchmark and the tests, not a user run
API_ONLY = {"val_rate", "val_seed", "gene_batch"}
CLI_FLAG = {"n_pcs": "pcs"}


def _cli_defaults() -> dict:
    return {p.name: p.default for p in impute_command.params}


def test_every_option_has_a_cli_flag_with_the_field_default():
    cli = _cli_defaults()
    for name, group in GROUP_OF.items():
        if name in API_ONLY:
            assert CLI_FLAG.get(name, name) not in cli, name
            continue
        default = getattr(getattr(DEFAULTS, group), name)
        shown = cli[CLI_FLAG.get(name, name)]
        if name == "hidden":
            shown = tuple(int(v) for v in shown.split(","))
        assert shown == default, (name, shown, default)


def test_changing_only_the_options_defaults_changes_the_api_cli_and_uns(
    monkeypatch, tmp_path, sim_adata, sim_h5ad
):
    monkeypatch.setitem(TrainingOptions.__init__.__kwdefaults__, "epochs", 3)
    monkeypatch.setitem(ModelOptions.__init__.__kwdefaults__, "hidden", (16, 4))
    monkeypatch.setitem(OutputOptions.__init__.__kwdefaults__, "predict_draws", 2)
    monkeypatch.setitem(GraphOptions.__init__.__kwdefaults__, "k", 4)

    counts = sim_adata.copy()
    del counts.layers["truth"]
    api_run = gnnimpute.impute(counts, progress=False).uns["gnnimpute"]
    out = tmp_path / "out.h5ad"
    result = CliRunner().invoke(main, ["impute", str(sim_h5ad), str(out), "--no-qc", "--quiet"])
    assert result.exit_code == 0, result.output
    cli_run = ad.read_h5ad(out)
    for info in (api_run, cli_run.uns["gnnimpute"]):
        params = info["params"]
        assert params["epochs"] == 3 and info["epochs_run"] <= 3
        assert list(params["hidden"]) == [16, 4] and params["predict_draws"] == 2
        assert params["k"] == 4
    assert cli_run.obsm["X_gnnimpute"].shape == (sim_adata.n_obs, 4)


def test_uns_records_every_option_by_name(sim_adata):
    counts = sim_adata.copy()
    del counts.layers["truth"]
    params = gnnimpute.impute(counts, epochs=2, hidden=(8, 4), progress=False).uns["gnnimpute"][
        "params"
    ]
    assert set(GROUP_OF) - {"val_seed"} <= set(params)  # None is not stored in h5ad
    assert params["epochs"] == 2 and list(params["hidden"]) == [8, 4]
    assert params["lr"] == DEFAULTS.training.lr and params["blend"] == DEFAULTS.output.blend


def test_preset_replaces_its_fields_and_explicit_values_win():
    paper = build_options(preset="paper")
    assert paper.preset == "paper"
    assert {n: v for n, v in paper.flat().items() if n in PRESETS["paper"]} == PRESETS["paper"]
    untouched = set(GROUP_OF) - set(PRESETS["paper"])
    assert {n: paper.flat()[n] for n in untouched} == {n: DEFAULTS.flat()[n] for n in untouched}
    explicit = build_options(preset="paper", lr=3e-3, hidden=(256, 50))
    assert explicit.training.lr == 3e-3 and explicit.model.hidden == (256, 50)
    assert explicit.model.dropout == PRESETS["paper"]["dropout"]
    base = ImputeOptions().replace(epochs=7)
    assert build_options(base, "fast").training.epochs == 7


def test_every_preset_names_real_options():
    for name, values in PRESETS.items():
        assert set(values) <= set(GROUP_OF), name


@pytest.mark.parametrize(
    "cls, values, message",
    [
        (GraphOptions, {"k": 0}, "k .*whole number >= 1"),
        (GraphOptions, {"n_pcs": 1}, "n_pcs .*>= 2"),
        (ModelOptions, {"hidden": (8,)}, "two sizes"),
        (ModelOptions, {"decoder": "zinb"}, "decoder must be one of"),
        (ModelOptions, {"dropout": 1.0}, "dropout .*finite number in"),
        (TrainingOptions, {"lr": float("nan")}, "lr .*finite"),
        (TrainingOptions, {"epochs": True}, "epochs .*whole number"),
        (TrainingOptions, {"min_delta": 1.0}, "min_delta"),
        (OutputOptions, {"blend": "gate:x"}, "gate"),
        (OutputOptions, {"level_mix": 2.0}, "level_mix"),
    ],
)
def test_each_options_object_refuses_bad_values(cls, values, message):
    with pytest.raises(InputError, match=message):
        cls(**values)


def test_unknown_option_names_fail_and_groups_cover_distinct_names():
    with pytest.raises(TypeError, match="unknown option"):
        ImputeOptions().replace(epoch=3)
    names = [f.name for cls in GROUPS.values() for f in dataclasses.fields(cls)]
    assert len(names) == len(set(names)) == len(GROUP_OF)
