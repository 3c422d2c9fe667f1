"""The `gnnimpute` command line: thin click commands that parse, call the API and write."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import click

from . import __version__
from .allocator import retain_freed_memory
from .cli_common import run_safely, setup_logging
from .cli_impute import impute
from .cli_types import FINITE_FLOAT, FiniteFloatRange

log = logging.getLogger("gnnimpute")


class _LazyGroup(click.Group):
    """Loads the benchmark's commands only when named, so `impute` never imports the benchmark."""

    lazy = ("mask", "split", "evaluate", "benchmark", "baseline")

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx, name):
        if name == "baseline" and name not in self.commands:
            from .baseline import baseline

            return baseline
        if name in self.lazy and name not in self.commands:
            from .benchmark import cli as benchmark_cli

            return getattr(benchmark_cli, name)
        return super().get_command(ctx, name)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
@click.version_option(__version__, "--version", message="%(version)s")
def main() -> None:
    """GNNImpute: impute dropout in single-cell RNA-seq counts with a graph-attention autoencoder."""
    # Schedulers (Nextflow, Slurm) stop jobs with SIGTERM: treat it like Ctrl-C, so temporary
    # files are removed and child processes stopped before we exit.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)  # a closed terminal or ssh session, same clean-up
    retain_freed_memory()  # an epoch's blocks reuse warm pages (allocator.py)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


main.add_command(impute)


@main.command()
@click.argument("output", metavar="OUTPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--cells", default=4000, type=click.IntRange(min=1), help="Number of cells.")
@click.option("--genes", default=20000, type=click.IntRange(min=1), help="Number of genes.")
@click.option(
    "--groups", default=2, type=click.IntRange(min=1), help="Number of cell groups (paper: 2 or 6)."
)
@click.option(
    "--dropout-mid",
    default=5.0,
    type=FINITE_FLOAT,
    help="Logistic dropout midpoint, in log mean expression.",
)
@click.option(
    "--dropout-shape",
    default=-1.0,
    type=FINITE_FLOAT,
    help="Logistic dropout shape (negative: low means drop more).",
)
@click.option(
    "--de-prob",
    default=0.1,
    type=FiniteFloatRange(0, 1),
    help="Probability that a gene is differentially expressed per group.",
)
@click.option(
    "--de-fac-scale",
    default=0.25,
    type=FiniteFloatRange(min=0),
    help="Scale (sdlog) of DE factors.",
)
@click.option("--lib-loc", default=11.0, type=FINITE_FLOAT, help="Mean of log library size.")
@click.option("--seed", default=0, type=int, help="Random seed.")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("--quiet", is_flag=True, help="No log output on stderr.")
def simulate(
    output,
    cells,
    genes,
    groups,
    dropout_mid,
    dropout_shape,
    de_prob,
    de_fac_scale,
    lib_loc,
    seed,
    force,
    quiet,
):
    """Simulate Splat-model counts into OUTPUT (.h5ad): X observed, layers['truth'], obs['group']."""
    setup_logging(quiet)

    def run():
        from .data.simulate import simulate_splat
        from .output.atomic import check_output_path, write_h5ad_atomic

        check_output_path(output, force=force)
        adata = simulate_splat(
            cells,
            genes,
            groups,
            dropout_mid=dropout_mid,
            dropout_shape=dropout_shape,
            de_prob=de_prob,
            de_fac_scale=de_fac_scale,
            lib_loc=lib_loc,
            random_state=seed,
        )
        write_h5ad_atomic(adata, output, force=force)
        zeros = 1 - adata.X.nnz / (adata.n_obs * adata.n_vars)
        log.info(
            "wrote %s: %d cells x %d genes, %d groups, %.1f%% zeros",
            output,
            cells,
            genes,
            groups,
            100 * zeros,
        )

    run_safely(run)


def run() -> None:
    """The console entry point: `main`, then an exit that skips the interpreter's teardown.

    Everything is written, flushed and renamed by then; unloading torch alone took ~0.8 s of
    every run, about a tenth of MAGIC's whole Baron run.
    """
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):  # what sys.exit("message") would print
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if code is None else int(code))


if __name__ == "__main__":
    run()
