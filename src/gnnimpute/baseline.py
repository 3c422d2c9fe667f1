"""Simple baselines a user can run beside gnnimpute: no imputation, kNN averaging, kNN level.

They need no training and take seconds, so they answer the first question about a data set:
is a neighbour average already enough? Each is in the normalized-count space of
`layers['gnnimpute']` (cell i scaled by median(L) / L_i), on the same graph builder (PCA of
log-normalized counts, exact Euclidean neighbours up to 50,000 cells), so
`gnnimpute evaluate --layer NAME` scores them like the model's layers. The benchmark's `none`,
`knn` and `knn_level` peers are these functions.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import scipy.sparse as sp

# method name on the command line -> layer written
LAYERS = {"none": "normalized", "knn": "knn", "knn-level": "knn_level"}
DEFAULT_K = 15  # the benchmark's peers: k = 15 averages better than the graph's k = 5


def normalized_counts(counts) -> sp.csr_matrix:
    """Counts with cell i scaled by median(L) / L_i (float32 CSR): no imputation."""
    from .data.norm import scale_rows, size_factors

    counts = sp.csr_matrix(counts, dtype=np.float32)
    return scale_rows(counts, size_factors(counts))


def neighbours(norm: sp.csr_matrix, k: int, *, n_pcs: int = 50, seed: int = 0) -> np.ndarray:
    """Each cell's k nearest other cells on the PCA of log-normalized counts (cells x k)."""
    from .data.norm import log1p
    from .graph.knn import knn_indices, pca

    pcs, _ = pca(log1p(norm), n_pcs, random_state=seed)
    return knn_indices(pcs, k, random_state=seed)


def knn_average(norm: sp.csr_matrix, nbrs: np.ndarray) -> np.ndarray:
    """Mean of the neighbours' normalized counts; the cell itself is left out (float32)."""
    n, m = nbrs.shape
    weights = sp.csr_matrix(
        (np.full(n * m, 1.0 / m, dtype=np.float32), (np.repeat(np.arange(n), m), nbrs.ravel())),
        shape=(n, n),
    )
    return np.asarray((weights @ norm).toarray(), dtype=np.float32)


def knn_level(norm: sp.csr_matrix, nbrs: np.ndarray) -> np.ndarray:
    """Mean of the neighbours' non-zero values per gene; the gene's non-zero mean where none."""
    from .graph.level import neighbour_level

    return neighbour_level(norm, nbrs)


def baselines(
    counts, methods=("none", "knn", "knn-level"), *, k: int = DEFAULT_K, n_pcs: int = 50,
    seed: int = 0,
) -> dict[str, np.ndarray | sp.csr_matrix]:  # fmt: skip
    """{layer name: values} for each method of `LAYERS`, from raw counts (cells x genes)."""
    unknown = [m for m in methods if m not in LAYERS]
    if unknown:
        raise ValueError(f"unknown baseline {unknown[0]!r} (choose from {', '.join(LAYERS)})")
    norm = normalized_counts(counts)
    out: dict[str, np.ndarray | sp.csr_matrix] = {}
    nbrs = None
    for method in dict.fromkeys(methods):
        if method == "none":
            out[LAYERS[method]] = norm
            continue
        if nbrs is None:
            nbrs = neighbours(norm, k, n_pcs=n_pcs, seed=seed)
        out[LAYERS[method]] = (knn_average if method == "knn" else knn_level)(norm, nbrs)
    return out


@click.command("baseline")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.argument("output", metavar="OUTPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--method",
    "methods",
    multiple=True,
    type=click.Choice(list(LAYERS)),
    help="Repeatable. none: the normalized counts (layer 'normalized'); knn: the mean of the "
    "neighbours' normalized counts (layer 'knn'); knn-level: the mean of the neighbours' "
    "non-zero values (layer 'knn_level').  [default: all three]",
)
@click.option(
    "--k",
    default=DEFAULT_K,
    type=click.IntRange(min=1),
    help="Neighbours per cell (the cell itself is not one of them).",
)
@click.option(
    "--pcs", default=50, type=click.IntRange(min=2), help="Principal components for neighbours."
)
@click.option("--layer", default=None, help="Read counts from this layer of an .h5ad instead of X.")
@click.option(
    "--transpose", is_flag=True, help="CSV/TSV input is genes x cells (default: cells x genes)."
)
@click.option(
    "--allow-non-integer", is_flag=True, help="Accept non-integer values (e.g. corrected counts)."
)
@click.option("--seed", default=0, type=int, help="Seed of the PCA start vector.")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("--quiet", is_flag=True, help="No log output on stderr.")
def baseline(input_path, output, methods, k, pcs, layer, transpose, allow_non_integer, seed,
             force, quiet):  # fmt: skip
    """Write the simple baselines of INPUT into OUTPUT (.h5ad) to compare with gnnimpute.

    No training and no QC: every cell and gene is kept in order, so the layers line up with
    `gnnimpute impute --no-qc`. Score one with `gnnimpute evaluate OUTPUT TRUTH --layer knn`.
    """
    from .cli_common import run_safely, setup_logging

    setup_logging(quiet)

    def run():
        import logging

        from .data.prepare import qc_keep_annotations
        from .data.read import counts_of, read_input
        from .output.atomic import check_output_path, write_h5ad_atomic

        check_output_path(output, force=force, input_path=input_path)
        adata = read_input(input_path, layer=layer, transpose=transpose, keep_annotations=True)
        adata, _ = qc_keep_annotations(
            adata, layer=layer, no_qc=True, allow_non_integer=allow_non_integer, k=k
        )
        chosen = methods or tuple(LAYERS)
        layers = baselines(counts_of(adata, layer), chosen, k=k, n_pcs=pcs, seed=seed)
        for name, values in layers.items():
            adata.layers[name] = values
        adata.uns["gnnimpute_baseline"] = {
            "layers": list(layers), "methods": list(dict.fromkeys(chosen)), "k": k, "pcs": pcs,
            "seed": seed, "normalization": "counts x median(L) / L_i, L_i the cell's total",
        }  # fmt: skip
        write_h5ad_atomic(adata, output, force=force)
        logging.getLogger("gnnimpute").info(
            "wrote %s: %d cells x %d genes, layers %s", output, adata.n_obs, adata.n_vars,
            ", ".join(layers),
        )  # fmt: skip

    run_safely(run)
