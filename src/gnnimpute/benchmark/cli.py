"""Click commands of the benchmark: ``mask``, ``split``, ``evaluate``, ``benchmark``.

Registered on the main group by ``gnnimpute.cli`` (``main.add_command(...)``).
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from pathlib import Path

import click

from ..cli_types import FINITE_FLOAT
from ..errors import InputError


def _floats(text: str, name: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
        if not all(math.isfinite(v) for v in values):
            raise ValueError
        return values
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated numbers, got {text!r}", param_hint=name
        ) from None


def _ints(text: str, name: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated integers, got {text!r}", param_hint=name
        ) from None


def _fail(exc: InputError):
    raise click.ClickException(str(exc)) from exc


def _write(adata, path: str, force: bool):
    from ..output.atomic import write_h5ad_atomic

    write_h5ad_atomic(adata, path, force=force)


def _load(path: str, layer: str | None = None):
    from ..data.read import read_input
    from .datasets import load_dataset

    return read_input(path, layer=layer) if layer is not None else load_dataset(path).adata


def _check_outputs(paths, force: bool, input_path=None):
    from ..output.atomic import check_output_path

    for p in paths:
        check_output_path(p, force=force, input_path=input_path)
    if len({str(Path(p).resolve()) for p in paths}) != len(paths):
        raise InputError("output paths must differ")


@click.command("mask")
@click.argument("input_path", metavar="INPUT")
@click.argument("masked", metavar="MASKED")
@click.argument("truth", metavar="TRUTH")
@click.option(
    "--rate",
    type=FINITE_FLOAT,
    default=0.1,
    show_default=True,
    help="Fraction of each gene's non-zero counts to hide.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--layer",
    default=None,
    help="Mask the counts of this layer of an .h5ad instead of X; MASKED keeps the masked "
    "counts in X and in this layer, so that `impute --layer` reads them.",
)
@click.option(
    "--allow-non-integer", is_flag=True, help="Accept non-integer values (not raw counts)."
)
@click.option("--force", is_flag=True, help="Overwrite existing outputs.")
def mask(input_path, masked, truth, rate, seed, layer, allow_non_integer, force):
    """Hide counts as in the GNNImpute paper (MASKED for methods, TRUTH for evaluate only).

    For every gene with more than 3 non-zero cells, floor(RATE x nnz) of its non-zero counts
    are set to 0. MASKED holds only the masked counts (labels kept in obs); TRUTH holds the
    original counts and the hidden positions (uns['mask']). No method should ever read TRUTH.
    The counts must be raw counts, as for `impute`.
    """
    from ..data.checks import validate_counts
    from .mask import make_mask_pair

    try:
        _check_outputs([masked, truth], force, input_path)
        adata = _load(input_path, layer)
        validate_counts(adata, allow_non_integer=allow_non_integer)
        m, t = make_mask_pair(adata, rate, seed)
        if layer is not None:
            m.layers[layer] = m.X.copy()
        _write(m, masked, force)
        _write(t, truth, force)
    except InputError as exc:
        _fail(exc)
    n = len(t.uns["mask"]["rows"])
    click.echo(
        f"masked {n} of {adata.X.nnz} non-zero counts (rate {rate:g}, seed {seed})", err=True
    )


@click.command("split")
@click.argument("input_path", metavar="INPUT")
@click.argument("train", metavar="TRAIN")
@click.argument("test", metavar="TEST")
@click.option(
    "--train-frac",
    type=FINITE_FLOAT,
    default=0.9,
    show_default=True,
    help="Binomial fraction of each count kept for training.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite existing outputs.")
def split(input_path, train, test, train_frac, seed, force):
    """Molecular cross-validation: split every count binomially into TRAIN and TEST.

    As Batson et al. 2019 and the Open Problems denoising task. Impute TRAIN, then score it
    with `gnnimpute evaluate IMPUTED TEST`.
    """
    from .mask import make_split_pair

    try:
        _check_outputs([train, test], force, input_path)
        adata = _load(input_path)
        tr, te = make_split_pair(adata, train_frac, seed)
        _write(tr, train, force)
        _write(te, test, force)
    except InputError as exc:
        _fail(exc)
    click.echo(
        f"split {int(adata.X.sum())} counts: train {int(tr.X.sum())}, test {int(te.X.sum())}",
        err=True,
    )


@click.command("evaluate")
@click.argument("imputed", metavar="IMPUTED", type=click.Path(exists=True, dir_okay=False))
@click.argument("truth", metavar="TRUTH", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--label-key",
    default=None,
    help="obs column with cell labels: adds ARI/NMI of k-means and Leiden.",
)
@click.option(
    "--layer", default=None, help="Layer of IMPUTED to score [default: 'gnnimpute', else X]."
)
@click.option(
    "--json",
    "json_out",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also write the metrics to this JSON file.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of PCA, k-means and Leiden."
)
@click.option(
    "--baselines",
    "baselines_path",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="Also score every layer of this file from `gnnimpute baseline` and print each beside "
    "IMPUTED's scores, one column per layer.",
)
def evaluate(imputed, truth, label_key, layer, json_out, seed, baselines_path):
    """Score IMPUTED against TRUTH (from `gnnimpute mask`) or TEST (from `gnnimpute split`)."""
    import warnings

    import anndata as ad

    from .metrics import evaluate as _evaluate

    try:
        try:
            imp = ad.read_h5ad(imputed)
            tru = ad.read_h5ad(truth)
        except Exception as exc:
            raise InputError(
                f"cannot read input: {type(exc).__name__}: {exc}".splitlines()[0]
            ) from exc
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            res = _evaluate(imp, tru, layer=layer, label_key=label_key, seed=seed)
            others = {}
            if baselines_path:
                bl = _read_scored(baselines_path)
                names = list(bl.uns.get("gnnimpute_baseline", {}).get("layers", bl.layers))
                if not names:
                    raise InputError(f"{baselines_path} has no layers to score")
                for name in names:
                    others[name] = _evaluate(bl, tru, layer=name, label_key=label_key, seed=seed)
    except InputError as exc:
        _fail(exc)
    if others:
        _echo_columns({layer or "gnnimpute": res, **others})
        res = {**res, "baselines": others}
    else:
        for key, val in res.items():
            click.echo(f"{key}\t{val:.6g}" if isinstance(val, float) else f"{key}\t{val}")
    if json_out:
        Path(json_out).write_text(json.dumps(res, indent=2) + "\n")


def _shown(arg: str) -> str:
    """An input file by its name alone: the recorded command says what ran, not where it lay."""
    return Path(arg).name if "/" in arg and Path(arg).is_file() else arg


def _read_scored(path):
    import anndata as ad

    try:
        return ad.read_h5ad(path)
    except Exception as exc:
        raise InputError(f"cannot read input: {type(exc).__name__}: {exc}".splitlines()[0]) from exc


def _score(value) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _echo_columns(results: dict[str, dict]) -> None:
    """One row per metric, one column per scored layer: the baselines beside the imputation."""
    names = list(results)
    first = results[names[0]]
    click.echo("\t".join(["metric", *names]))
    for key, val in first.items():
        if not isinstance(val, float):
            click.echo(f"{key}\t{val}")
            continue
        cells = [results[n].get(key) for n in names]
        click.echo("\t".join([key, *(_score(c) for c in cells)]))


@click.command("benchmark")
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder."
)
@click.option(
    "--label-key",
    "label_keys",
    multiple=True,
    help="obs column(s) with labels; the first present in each dataset is used [default: cell_type, cluster, group, ...].",
)
@click.option(
    "--rates",
    default="0.1",
    show_default=True,
    help="Masking rates, comma-separated (e.g. 0.1,0.2,0.3,0.4,0.5,0.6).",
)
@click.option(
    "--seeds", default="0,1,2", show_default=True, help="Mask seeds (also the methods' seeds)."
)
@click.option(
    "--methods",
    default="all",
    show_default=True,
    help="Comma-separated: gnnimpute, gnnimpute_gcn, gnnimpute_h1, gnnimpute_h5, gnnimpute_h8, gnnimpute_paper, none, knn, knn_level, magic, scvi, alra; 'all'; 'peers'.",
)
@click.option(
    "--train-fracs",
    default="",
    help="Molecular cross-validation train fractions, comma-separated (e.g. 0.5,0.7,0.9); empty: none.",
)
@click.option(
    "-k",
    "--k",
    "k",
    type=int,
    default=5,
    show_default=True,
    help="Neighbours for gnnimpute, kNN averaging and MAGIC.",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="METHOD.KEY=VALUE",
    help="Method option, e.g. --set scvi.max_epochs=100 --set gnnimpute.epochs=500 (values parsed as JSON).",
)
@click.option(
    "--timeout",
    type=FINITE_FLOAT,
    default=None,
    help="Seconds before one method run is stopped and recorded as failed.",
)
@click.option(
    "--stage",
    type=click.Choice(["development", "confirmation"]),
    default=None,
    help="Which split these runs are: titles the README section (keep one output folder each).",
)
@click.option("--no-leiden", is_flag=True, help="Skip the Leiden clustering (k-means only).")
@click.option("--no-plots", is_flag=True, help="Tables only.")
@click.option("--resume", is_flag=True, help="Keep DIR/rows.jsonl and run only what is missing.")
@click.option(
    "--in-process",
    is_flag=True,
    help="Run methods in this process (faster start; memory is then sampled, less exact).",
)
def benchmark(
    inputs,
    out_dir,
    label_keys,
    rates,
    seeds,
    methods,
    train_fracs,
    k,
    settings,
    timeout,
    stage,
    no_leiden,
    no_plots,
    resume,
    in_process,
):
    """Run every method on the same masked data of each INPUT and write tables, plots and report.html.

    INPUT is a counts file (.h5ad, ...) or a simulated dataset: sim2 / sim6 (the paper's Splat
    settings, 4000 x 20000) or e.g. sim2:1000x2000. Methods that cannot be imported are listed
    as skipped, with the reason.
    """
    from .datasets import DEFAULT_LABEL_KEYS
    from .runner import BenchmarkConfig, run_benchmark

    options: dict[str, dict] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        name, dot, opt = key.partition(".")
        if not sep or not dot or not name or not opt:
            raise click.BadParameter(f"expected METHOD.KEY=VALUE, got {item!r}", param_hint="--set")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        options.setdefault(name, {})[opt] = parsed
    keys: list[str] = []
    for lk in label_keys:
        keys += [x for x in lk.split(",") if x]
    cfg = BenchmarkConfig(
        datasets=list(inputs),
        out=Path(out_dir),
        methods=[m for m in methods.split(",") if m],
        rates=_floats(rates, "--rates"),
        seeds=_ints(seeds, "--seeds"),
        train_fracs=_floats(train_fracs, "--train-fracs"),
        label_keys=tuple(keys) or DEFAULT_LABEL_KEYS,
        k=k,
        method_options=options,
        isolate=not in_process,
        timeout_s=timeout,
        leiden=not no_leiden,
        plots=not no_plots,
        resume=resume,
        stage=stage,
        command="gnnimpute " + shlex.join(map(_shown, sys.argv[1:]))
        if sys.argv[1:2] == ["benchmark"]
        else None,
        log=lambda msg: click.echo(msg, err=True),
    )
    try:
        run_benchmark(cfg)
    except InputError as exc:
        _fail(exc)
    click.echo(f"wrote {Path(out_dir) / 'report.html'}", err=True)


COMMANDS = (mask, split, evaluate, benchmark)


@click.group("gnnimpute")
def _standalone():
    """The benchmark commands alone (``python -m gnnimpute.benchmark.cli``)."""


for _cmd in COMMANDS:
    _standalone.add_command(_cmd)

if __name__ == "__main__":
    _standalone()
