"""The `impute` command: options (defaults from `gnnimpute.options`), then read, QC, impute, write."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from .cli_common import run_safely, setup_logging
from .cli_files import impute_and_write, read_for_impute
from .cli_types import FiniteFloatRange
from .errors import InputError
from .options import DEFAULTS
from .presets import PRESETS

log = logging.getLogger("gnnimpute")


def _hidden_sizes(ctx, param, value: str) -> tuple[int, int]:
    try:
        sizes = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter("expected two integers like 512,50") from None
    if len(sizes) != 2 or min(sizes) < 1:
        raise click.BadParameter("expected two positive integers like 512,50")
    return sizes


def _impute_options(ctx: click.Context, preset: str | None, values: dict):
    """The options the user gave (by name), over the preset, over the defaults of `options.py`.

    Options left at their defaults are not passed on, so the defaults live in one place and a
    preset fills exactly the options the user did not give.
    """
    from click.core import ParameterSource

    from .options import GROUP_OF, build_options

    cli_name = {"n_pcs": "pcs"}
    given = {
        name: value
        for name, value in values.items()
        if name in GROUP_OF
        and ctx.get_parameter_source(cli_name.get(name, name))
        not in (ParameterSource.DEFAULT, None)
    }
    return build_options(preset=preset, **given)


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.argument("output", metavar="OUTPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--layer", default=None, help="Read counts from this layer of an .h5ad instead of X.")
@click.option(
    "--transpose", is_flag=True, help="CSV/TSV input is genes x cells (default: cells x genes)."
)
@click.option(
    "--allow-non-integer",
    is_flag=True,
    help="Accept non-integer values (e.g. ambient-corrected counts).",
)
@click.option(
    "--no-qc",
    is_flag=True,
    help="Keep every cell and gene; output names and order equal the input.",
)
@click.option(
    "--min-genes",
    default=200,
    type=click.IntRange(min=0),
    help="QC: drop cells with fewer detected genes.",
)
@click.option(
    "--min-cells",
    default=3,
    type=click.IntRange(min=0),
    help="QC: drop genes detected in fewer cells.",
)
@click.option(
    "--max-pct-mt",
    default=None,
    type=FiniteFloatRange(0, 100),
    help="QC: drop cells above this mitochondrial percentage (genes named MT-/mt-).",
)
@click.option(
    "--max-counts",
    default=None,
    type=FiniteFloatRange(min=0),
    help="QC: drop cells with more total counts (UMIs).",
)
@click.option(
    "--max-genes",
    default=None,
    type=click.IntRange(min=1),
    help="QC: drop cells with more detected genes.",
)
@click.option(
    "--k",
    default=DEFAULTS.graph.k,
    type=click.IntRange(min=1),
    help="Neighbours per cell in the kNN graph.",
)
@click.option(
    "--pcs",
    default=DEFAULTS.graph.n_pcs,
    type=click.IntRange(min=2),
    help="Principal components for the kNN graph.",
)
@click.option(
    "--encoder-input",
    type=click.Choice(["pca", "genes"]),
    default=DEFAULTS.model.encoder_input,
    help="Encoder reads fixed PCA projections of all genes, or the most variable genes.",
)
@click.option(
    "--n-input",
    default=DEFAULTS.model.n_input,
    type=click.IntRange(min=1),
    help="Encoder input size: principal axes (pca) or genes (genes).",
)
@click.option(
    "--heads",
    default=DEFAULTS.model.heads,
    type=click.IntRange(min=1),
    help="Attention heads per GAT layer (averaged).",
)
@click.option(
    "--layer-type",
    type=click.Choice(["gat", "gcn"]),
    default=DEFAULTS.model.layer_type,
    help="gcn is the no-attention ablation.",
)
@click.option(
    "--hidden",
    default=",".join(map(str, DEFAULTS.model.hidden)),
    callback=_hidden_sizes,
    help="Encoder sizes: hidden layer, bottleneck.",
)
@click.option(
    "--dropout",
    default=DEFAULTS.model.dropout,
    type=FiniteFloatRange(0, 1, max_open=True),
    help="Dropout probability.",
)
@click.option(
    "--attn-dropout",
    default=DEFAULTS.model.attn_dropout,
    type=FiniteFloatRange(0, 1, max_open=True),
    help="Dropout on the attention coefficients (GAT).",
)
@click.option(
    "--decoder",
    type=click.Choice(["hurdle", "level"]),
    default=DEFAULTS.model.decoder,
    help="hurdle: learn P(detected) and the level where detected (three layers); "
    "level: the level only, without a detection head.",
)
@click.option(
    "--blend",
    default=DEFAULTS.output.blend,
    help="Default layer from the hurdle decoder: level x g(p), g one of level, expected, "
    "power:x (p^x), gate:a,b (sigmoid(a(p-b))); keep:SPEC keeps the observed values and "
    "fills only the zeros with SPEC's value (the default, for clustering); see docs/method.md.",
)
@click.option(
    "--level-mix",
    default=DEFAULTS.output.level_mix,
    type=FiniteFloatRange(0, 1),
    help="Average this share of the neighbours' level (mean of the --detection-k neighbours' "
    "non-zero values, no training) into the model's level.",
)
@click.option(
    "--detection-weight",
    default=DEFAULTS.training.detection_weight,
    type=FiniteFloatRange(min=0),
    help="Weight of the detection cross-entropy beside the level MSE (hurdle decoder).",
)
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default=None,
    help="Named option set; options given explicitly override it. paper: the published "
    "architecture and training; fast: the earlier faster stopping rule at a constant rate "
    "(--patience 20 --min-delta 0.01 --lr-patience 0; its accuracy trade-offs are in "
    "docs/method.md).",
)
@click.option(
    "--epochs",
    default=DEFAULTS.training.epochs,
    type=click.IntRange(min=1),
    help="Maximum training epochs.",
)
@click.option(
    "--patience",
    default=DEFAULTS.training.patience,
    type=click.IntRange(min=1),
    help="Stop after this many epochs without validation improvement.",
)
@click.option(
    "--min-delta",
    default=DEFAULTS.training.min_delta,
    type=FiniteFloatRange(min=0, max=1, max_open=True),
    help="Relative gain in validation loss that counts as an improvement for --patience "
    "(0.01 = 1 %); smaller gains still update the weights kept.",
)
@click.option(
    "--lr",
    default=DEFAULTS.training.lr,
    type=FiniteFloatRange(min=0, min_open=True),
    help="Adam learning rate.",
)
@click.option(
    "--lr-patience",
    default=DEFAULTS.training.lr_patience,
    type=click.IntRange(min=0),
    help="Multiply the learning rate by --lr-factor after this many epochs without validation "
    "improvement (0: a constant rate).",
)
@click.option(
    "--lr-factor",
    default=DEFAULTS.training.lr_factor,
    type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
    help="Factor applied to the learning rate on each --lr-patience plateau.",
)
@click.option(
    "--weight-decay",
    default=DEFAULTS.training.weight_decay,
    type=FiniteFloatRange(min=0),
    help="Adam weight decay.",
)
@click.option(
    "--mask-rate",
    default=DEFAULTS.training.mask_rate,
    type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
    help="Share of observed non-zeros hidden from the encoder each epoch.",
)
@click.option(
    "--detection-shrink",
    default=DEFAULTS.output.detection_shrink,
    type=FiniteFloatRange(0, 1),
    help="Level decoder only: multiply the level by (share of the neighbourhood where the gene "
    "is detected) to this power: 0 = level if detected (best on hidden counts), 1 = expected value.",
)
@click.option(
    "--detection-k",
    default=DEFAULTS.graph.detection_k,
    type=click.IntRange(min=1),
    help="Neighbours that define a cell's neighbourhood for --detection-shrink.",
)
@click.option(
    "--zero-weight",
    default=DEFAULTS.training.zero_weight,
    type=FiniteFloatRange(min=0),
    help="Weight of observed zeros (target 0) relative to hidden non-zeros in the loss; "
    "higher keeps off genes lower (clustering), lower fits hidden counts better.",
)
@click.option(
    "--predict-draws",
    default=DEFAULTS.output.predict_draws,
    type=click.IntRange(min=0),
    help="Average the output over this many inputs that hide observed entries as training did "
    "(0: one pass on the complete input).",
)
@click.option(
    "--ema-decay",
    default=DEFAULTS.training.ema_decay,
    type=FiniteFloatRange(min=0, max=1, max_open=True),
    help="Return an exponential moving average of the weights (e.g. 0.98); 0 turns it off "
    "(the default: it did not pay on the development data).",
)
@click.option(
    "--seed",
    default=0,
    type=int,
    help="Random seed; the same seed and --threads give the same output on the CPU.",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    help="auto = CUDA when available.",
)
@click.option(
    "--threads",
    default=None,
    type=click.IntRange(min=1),
    help="CPU threads for torch (default: torch's choice).",
)
@click.option(
    "--plot",
    "plot_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the training curve (train/validation loss per epoch) to this PNG.",
)
@click.option(
    "--batch-cells",
    default=DEFAULTS.training.batch_cells,
    help="Seed cells per mini-batch (2-hop subgraphs); 0 = full batch; auto = by size.",
)
@click.option(
    "--loss-cells",
    default=DEFAULTS.training.loss_cells,
    help="Full batch: cells scored per epoch, a random sample (0 = all; auto = 16384 on CPU).",
)
@click.option(
    "--layers",
    "layers",
    default="gnnimpute",
    help="Dense layers to write, comma-separated: gnnimpute (the default layer), level, "
    "detection, expected (level x detection), or all (hurdle decoder); each takes 4 bytes per "
    "cell x gene (docs/output.md).",
)
@click.option(
    "--embedding-key",
    default="X_gnnimpute",
    help="obsm key of the embedding (e.g. X_gnnimpute_S1 for one sample of many); "
    "none: write no embedding.",
)
@click.option(
    "--out-chunked/--no-out-chunked",
    default=None,
    help="Write the dense layers chunk by chunk (default: when they exceed 1 GiB).",
)
@click.option("--quiet", is_flag=True, help="No progress or log output on stderr.")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def impute(
    input_path,
    output,
    layer,
    transpose,
    allow_non_integer,
    no_qc,
    min_genes,
    min_cells,
    max_pct_mt,
    max_counts,
    max_genes,
    quiet,
    force,
    plot_path,
    seed,
    pcs,
    n_input,
    **params,
):
    """Impute INPUT (.h5ad, 10x .h5, 10x folder, .csv/.tsv[.gz]) into OUTPUT (.h5ad).

    OUTPUT keeps the kept raw counts in X and adds layers['gnnimpute'] (normalized-count space),
    obsm['X_gnnimpute'] (--embedding-key) and uns['gnnimpute']. --layers adds gnnimpute_level,
    gnnimpute_detection and gnnimpute_expected (level x detection).
    """
    setup_logging(quiet)
    out_chunked = params.pop("out_chunked")
    preset = params.pop("preset")
    try:  # checked before reading the input, like every other option
        options = _impute_options(
            click.get_current_context(), preset, {**params, "n_pcs": pcs, "n_input": n_input}
        )
    except InputError as exc:
        raise click.UsageError(str(exc)) from None
    from .output.layers import parse_layers, resolve_embedding_key

    layers, embedding_key = params.pop("layers"), params.pop("embedding_key")
    try:
        written = parse_layers(layers, options.model.decoder)
        resolve_embedding_key(embedding_key, "gnnimpute")
    except InputError as exc:
        raise click.ClickException(str(exc)) from None

    def run():
        adata, summary = read_for_impute(
            input_path, output, plot_path, layer=layer, transpose=transpose,
            allow_non_integer=allow_non_integer, no_qc=no_qc, k=options.graph.k, quiet=quiet,
            force=force, qc={"min_genes": min_genes, "min_cells": min_cells,
                             "max_pct_mt": max_pct_mt, "max_counts": max_counts,
                             "max_genes": max_genes},
        )  # fmt: skip
        impute_and_write(
            adata, summary, output, plot_path, options, seed=seed, layer=layer,
            allow_non_integer=allow_non_integer, quiet=quiet, force=force, out_chunked=out_chunked,
            n_layers=len(written), device=params["device"], threads=params["threads"],
            layers=layers, embedding_key=embedding_key,
        )  # fmt: skip

    run_safely(run)
