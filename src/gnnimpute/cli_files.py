"""The `impute` command's file work: check the paths, read and QC, impute, write atomically."""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

from .errors import InputError

log = logging.getLogger("gnnimpute")


def read_for_impute(
    input_path, output, plot_path, *, layer, transpose, allow_non_integer, no_qc, qc, k, quiet,
    force,
):  # fmt: skip
    """The outputs checked first (nothing is read for a run that cannot write), then the input, QC'd."""
    from .data.prepare import qc_keep_annotations
    from .data.read import read_input
    from .output.atomic import check_output_path
    from .progress import stage

    check_output_path(output, force=force, input_path=input_path)
    if plot_path is not None:
        check_output_path(
            plot_path, force=force, input_path=input_path, suffix=".png", what="--plot"
        )
        if _same(plot_path, output):
            raise InputError("--plot and OUTPUT must be different files")
    with warnings.catch_warnings():
        warnings.simplefilter("default" if not quiet else "ignore", UserWarning)
        with stage("read", not quiet):
            adata = read_input(input_path, layer=layer, transpose=transpose, keep_annotations=True)
    adata, summary = qc_keep_annotations(
        adata, layer=layer, no_qc=no_qc, allow_non_integer=allow_non_integer, k=k, **qc
    )
    log.info(
        "%d cells x %d genes %s (input %d x %d)",
        adata.n_obs,
        adata.n_vars,
        "kept, QC off" if no_qc else "after QC",
        summary["n_cells_in"],
        summary["n_genes_in"],
    )
    return adata, summary


def impute_and_write(
    adata, summary, output, plot_path, options, *, seed, layer, allow_non_integer, quiet, force,
    out_chunked, n_layers, **api_args,
) -> None:  # fmt: skip
    """Impute, then publish OUTPUT (and the plot) only when everything is written."""
    from .api import impute as impute_api
    from .output.atomic import atomic_path
    from .output.stream_write import should_stream
    from .progress import stage

    stream = should_stream(adata.n_obs, adata.n_vars, n_layers=n_layers, choice=out_chunked)
    with contextlib.ExitStack() as published_last:
        # A streamed OUTPUT is built in its own temp file, renamed only after the plot is done.
        streamed_tmp = (
            published_last.enter_context(atomic_path(output, force=force)) if stream else None
        )
        impute_api(
            adata, layer=layer, stream_to=streamed_tmp, random_state=seed, options=options,
            allow_non_integer=allow_non_integer, progress=not quiet, qc_summary=summary,
            **api_args,
        )  # fmt: skip
        info = adata.uns["gnnimpute"]
        with stage("write", not quiet):
            _write_outputs(adata, output, plot_path, force=force, h5ad_done=stream)
    log.info(
        "wrote %s: %d cells x %d genes, %d epochs (best %d), %.1f s",
        output,
        adata.n_obs,
        adata.n_vars,
        info["epochs_run"],
        info["best_epoch"],
        info["wall_seconds"],
    )


def _same(a: Path, b: Path) -> bool:
    return Path(a).absolute() == Path(b).absolute()


def _write_outputs(
    adata, output: Path, plot_path: Path | None, *, force: bool, h5ad_done: bool = False
) -> None:
    """Both files or neither: each is built in a temp file, and renamed only when both are done.

    `h5ad_done`: OUTPUT was streamed into a temp file that the caller renames afterwards.
    """
    from .output.atomic import atomic_path

    with contextlib.ExitStack() as stack:
        if plot_path is not None:
            from .output.plots import plot_training_curve

            tmp_png = stack.enter_context(
                atomic_path(plot_path, force=force, tmp_suffix=".tmp.png")
            )
            info = adata.uns["gnnimpute"]
            plot_training_curve(info["history"], tmp_png, best_epoch=info["best_epoch"])
        if not h5ad_done:
            tmp = stack.enter_context(atomic_path(output, force=force))
            adata.write_h5ad(tmp)
    if plot_path is not None:
        log.info("wrote training curve %s", plot_path)
