"""`impute(adata, ...)`: the AnnData-facing entry point that composes graph, model and training."""

from __future__ import annotations

import dataclasses
import platform
import time
from importlib.metadata import PackageNotFoundError, version

import anndata as ad
import numpy as np
import scipy.sparse as sp
import torch

from ._constants import KEY
from .data.checks import validate_counts
from .data.norm import log1p, scale_rows, size_factors
from .errors import InputError
from .graph.knn import knn_edge_index, knn_indices, neighbourhood_detection, pca
from .graph.level import NeighbourLevel
from .memory import check_memory, estimate_peak
from .nn.inputs import GeneInput, ProjectedInput
from .nn.model import GNNImputeModel
from .options import ImputeOptions, ModelOptions, build_options
from .output.blend import blend as blend_layers
from .output.layers import EMBEDDING_AUTO, parse_layers, resolve_embedding_key, select_layers
from .output.predict import decode_layers, encode_draws
from .output.stream_write import fill_layers, write_h5ad_streamed
from .progress import stage
from .training import fit
from .training.config import TrainConfig, resolve_device
from .training.loss_cells import resolve_loss_cells
from .training.minibatch import resolve_batch_cells
from .validate import check_output, effective_detection_k


def impute(
    adata: ad.AnnData,
    *,
    layer: str | None = None,
    key_added: str = KEY,
    copy: bool = False,
    random_state: int = 0,
    preset: str | None = None,
    options: ImputeOptions | None = None,
    device: str = "auto",
    threads: int | None = None,
    allow_non_integer: bool = False,
    progress: bool = True,
    qc_summary: dict | None = None,
    stream_to: str | None = None,
    stream_compression: str | None = None,
    layers: str | tuple[str, ...] | None = None,
    embedding_key: str | None = EMBEDDING_AUTO,
    **option_values,
) -> ad.AnnData:
    """Impute dropout in a cells x genes count matrix with a graph autoencoder.

    It learns only from these counts, by hiding observed entries and predicting them. There is
    no QC here (`gnnimpute.data.qc`): every cell and gene is kept, in order.

    Parameters
    ----------
    adata, qc_summary
        Raw counts in `X` (or `layers[layer]`), never changed; what a QC step before this call
        kept (`gnnimpute.data.qc`), recorded in `uns`.
    options, preset, option_values
        `options` (`gnnimpute.options`, where each option is described; default: the defaults),
        then a preset's values (`gnnimpute.presets`), then options by name (`epochs=50`).
    copy
        Annotate and return a copy, not `adata` itself.
    layers, embedding_key
        The dense layers written (`gnnimpute.output.layers`: "gnnimpute", "level", "detection",
        "expected" or "all"; None: the decoder's own, all three of the hurdle's), 4 bytes per
        cell x gene each; the `obsm` key of the embedding ("auto": 'X_' + `key_added`; None: none).
    stream_to
        Write the result to this .h5ad, the dense layers one cell chunk at a time (not kept).

    Returns
    -------
    `adata` with float32 layers in normalized-count space (each cell scaled to the median total),
    the embedding in `obsm`, and the params, losses and QC summary in `uns` (docs/output.md).
    """
    start = time.perf_counter()
    opts = build_options(options, preset, **option_values)
    written = parse_layers(layers, opts.model.decoder)
    layout = (key_added, written)  # the layers' names and which of them are written
    obsm_key = resolve_embedding_key(embedding_key, key_added)
    adata = adata.copy() if copy else adata
    counts = _checked_counts(adata, layer, opts.graph.k, allow_non_integer)
    detection_k = effective_detection_k(opts.graph.detection_k, counts.shape[0])
    dev = _start_torch(device, threads, random_state)
    config = _train_config(opts, counts, dev, len(written), stream_to is not None, progress)
    data = _prepare(counts, opts, detection_k, dev, random_state, progress)
    model = _model_for(data, opts.model).to(dev)
    ei = torch.as_tensor(data.edge_index, device=dev)
    with stage("training", progress):
        result = fit(model, data.inputs, ei, data.target, config, seed=random_state)
    with stage("prediction", progress):
        chunks = _LayerMaker.predict(model, data, ei, config, opts, random_state, layout)
    if stream_to is None:
        with stage("output", progress):
            adata.layers.update(fill_layers(chunks, counts.shape[0]))
    if obsm_key is not None:
        adata.obsm[obsm_key] = chunks.embedding
    adata.uns[key_added] = _annotation(
        _recorded_params(opts, config, layer=layer, device=str(dev), detection_k=detection_k,
                         allow_non_integer=allow_non_integer, n_input=data.inputs.n_features),
        random_state, result, data, qc_summary, start,
    )  # fmt: skip
    if stream_to is not None:
        with stage("write", progress):
            write_h5ad_streamed(
                adata, stream_to, chunks, compression=stream_compression, force=True
            )
    return adata


def _start_torch(device: str, threads: int | None, random_state: int) -> torch.device:
    """Threads and the seed set before anything draws, and the device resolved."""
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(random_state)
    return resolve_device(device)


def _checked_counts(adata, layer, k: int, allow_non_integer: bool) -> sp.csr_matrix:
    """The counts to impute, as float32 CSR, refused before any work if they are not counts."""
    counts = sp.csr_matrix(adata.layers[layer] if layer is not None else adata.X, dtype=np.float32)
    validate_counts(
        ad.AnnData(X=counts), allow_non_integer=allow_non_integer, min_cells=k + 1,
        why=f"k + 1 for the kNN graph, k={k} (--k)",
    )  # fmt: skip
    return counts


def _annotation(params: dict, seed: int, result, data, qc_summary: dict | None, start: float):
    """`uns[key_added]`: what was run, on what, and how the training went."""
    return {
        "params": params,
        "seed": seed,
        "versions": _versions(),
        "history": {key: np.asarray(v, dtype=np.float64) for key, v in result.history.items()},
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "n_edges": int(data.edge_index.shape[1]),
        "qc": qc_summary if qc_summary is not None else {},
        "train_seconds": result.seconds,
        "wall_seconds": time.perf_counter() - start,
        "normalization": "layers are counts x median(L)/L_i, L_i the cell's total counts in X",
    }


def _train_config(
    opts: ImputeOptions,
    counts: sp.csr_matrix,
    dev: torch.device,
    n_layers: int,
    streamed: bool,
    progress: bool,
) -> TrainConfig:
    """Full batch or mini-batches, and the cells scored per epoch: chosen by the memory plan."""
    model, training = opts.model, opts.training
    sizes = dict(
        n_input=model.n_input or opts.graph.n_pcs, hidden=model.hidden, heads=model.heads,
        gene_batch=training.gene_batch, k=opts.graph.k, predict_draws=opts.output.predict_draws,
        streamed=streamed, n_dense_layers=n_layers,  # the layers kept in memory (or streamed)
    )  # fmt: skip
    scored_cells = resolve_loss_cells(training.loss_cells, counts.shape[0], dev)
    sizes["loss_cells"] = scored_cells
    full = estimate_peak(*counts.shape, counts.nnz, batch_cells=0, **sizes)
    batch = resolve_batch_cells(
        training.batch_cells, counts.shape[0], dev, full_batch_bytes=full.total,
        training_bytes=full.parts["training"],
    )  # fmt: skip
    check_memory(
        estimate_peak(*counts.shape, counts.nnz, batch_cells=batch, **sizes),
        advice="use --batch-cells 2048 (mini-batch training), --out-chunked (streamed output), "
        "fewer genes, or more memory",
    )  # fmt: skip
    return TrainConfig(
        **{
            **dataclasses.asdict(training),
            "detection_weight": training.detection_weight if model.decoder == "hurdle" else 0.0,
            "progress": progress,
            "batch_cells": batch,
            "loss_cells": 0 if batch else scored_cells,  # mini-batches score their seeds
        }
    )


@dataclasses.dataclass
class _Prepared:
    """What the model, the training and the output read: the data path up to the graph."""

    counts: sp.csr_matrix  # raw counts, cells x genes
    target: sp.csr_matrix  # normalized counts: what the model predicts
    neighbors: np.ndarray  # cells x detection_k nearest neighbours (the graph uses the first k)
    edge_index: np.ndarray
    inputs: GeneInput | ProjectedInput


def _prepare(
    counts: sp.csr_matrix,
    opts: ImputeOptions,
    detection_k: int,
    dev: torch.device,
    random_state: int,
    progress: bool,
) -> _Prepared:
    """Normalize, PCA, one neighbour search for the graph and the level, and the encoder input."""
    k, n_pcs = opts.graph.k, opts.graph.n_pcs
    encoder_input, n_input = opts.model.encoder_input, opts.model.n_input
    with stage("normalize", progress):
        target = scale_rows(counts, size_factors(counts))
        log_norm = log1p(target)
    n_comps = max(n_pcs, n_input or 0) if encoder_input == "pca" else n_pcs
    with stage("PCA", progress):
        pcs, loadings = pca(log_norm, n_comps, random_state=random_state)
    with stage("neighbours", progress):
        # One search serves the graph (first k) and the detection shrink (first detection_k).
        neighbors = knn_indices(pcs[:, :n_pcs], max(k, detection_k), random_state=random_state)
        edge_index = knn_edge_index(neighbors[:, :k])
    if encoder_input == "pca":
        inputs = ProjectedInput(log_norm, loadings[:, : n_input or n_comps], dev)
    else:
        inputs = GeneInput(log_norm, select_input_genes(log_norm, n_input), dev)
    return _Prepared(counts, target, neighbors[:, :detection_k], edge_index, inputs)


def _model_for(data: _Prepared, model: ModelOptions) -> GNNImputeModel:
    """The autoencoder for this input, started at the data's scale."""
    net = GNNImputeModel(
        data.inputs.n_features, data.counts.shape[1], hidden=model.hidden, heads=model.heads,
        layer_type=model.layer_type, dropout=model.dropout, attn_dropout=model.attn_dropout,
        detection=model.decoder == "hurdle",
    )  # fmt: skip
    detected = np.diff(sp.csc_matrix(data.counts).indptr) / data.counts.shape[0]
    net.start_at(level=nonzero_mean(data.target), detection_rate=detected)
    return net


class _LayerMaker:
    """Every dense output layer for a chunk of cells: what is written, or kept, per chunk."""

    def __init__(self, model, zs, embedding, data: _Prepared, output, key_added, written):
        self.model, self.zs, self.embedding, self.data = model, zs, embedding, data
        self.output, self.key, self.written = output, key_added, written
        # the neighbours' (no-training) level, averaged into the model's level
        self.level_source = (
            NeighbourLevel(data.target, data.neighbors) if output.level_mix > 0 else None
        )

    @classmethod
    def predict(cls, model, data: _Prepared, ei, config, opts, seed: int, layout):
        """Encode the draws the output averages over (see `OutputOptions.predict_draws`)."""
        draws = opts.output.predict_draws
        zs, embedding = encode_draws(
            model, data.inputs, ei, observed=data.target, draws=draws,
            hide_rate=config.hidden_share if draws else 0.0, seed=seed,
        )  # fmt: skip
        return cls(model, zs, embedding, data, opts.output, *layout)

    def __call__(self, rows: slice) -> dict[str, np.ndarray]:
        level, detection = decode_layers(self.model, self.zs, rows)
        mix, key = self.output.level_mix, self.key
        if self.level_source is not None:  # (1 - mix) level + mix neighbours' level, in place
            level *= np.float32(1 - mix)
            level += np.multiply(self.level_source.rows(rows), np.float32(mix))
        if detection is not None:
            layers = {
                key: blend_layers(
                    level, detection, self.output.blend, observed=self.data.target[rows]
                ),
                key + "_detection": detection,
                key + "_level": level,
            }
        else:
            if self.output.detection_shrink > 0:
                shrink_rows(
                    level, self.data.counts, self.data.neighbors, self.output.detection_shrink, rows
                )
            layers = {key: level}
        for block in layers.values():
            check_output(block, self.embedding)
        return select_layers(layers, self.written, key)


def _recorded_params(opts: ImputeOptions, config: TrainConfig, **resolved) -> dict:
    """`uns` params: every option by name, with the values this run resolved them to.

    None is left out (h5ad cannot store it); the level decoder records its blend as "level".
    """
    params = {
        **opts.flat(),
        "batch_cells": config.batch_cells,
        "loss_cells": config.loss_cells,
        "blend": opts.output.blend if opts.model.decoder == "hurdle" else "level",
        "hidden": list(opts.model.hidden),
        "preset": opts.preset,
        "threads": torch.get_num_threads(),
        "detection_k_requested": opts.graph.detection_k,
        **resolved,
    }
    return {name: value for name, value in params.items() if value is not None}


def shrink_rows(
    block: np.ndarray, counts: sp.csr_matrix, neighbors: np.ndarray, power: float, rows: slice
) -> np.ndarray:
    """Multiply `block`, the output of the cells in `rows`, in place by (neighbourhood detection
    rate) ** power.

    The rate is Laplace-smoothed, (detected + 1) / (k + 2), so a gene that no neighbour shows
    after dropout is damped, not erased.
    """
    k = neighbors.shape[1]
    share = neighbourhood_detection(counts, neighbors, rows)
    block *= ((share * (k + 1) + 1) / (k + 2)) ** power
    return block


def nonzero_mean(x: sp.csr_matrix) -> np.ndarray:
    """Mean of each gene's non-zero values (1 where a gene has none): the decoder's output scale."""
    csc = sp.csc_matrix(x)
    nnz = np.diff(csc.indptr)
    sums = np.asarray(csc.sum(axis=0)).ravel()
    return np.where(nnz > 0, sums / np.maximum(nnz, 1), 1.0).astype(np.float32)


def select_input_genes(log_norm: sp.csr_matrix, n_genes: int | None) -> np.ndarray:
    """Indices of the most variable genes (variance of log-normalized counts), in matrix order."""
    n_total = log_norm.shape[1]
    if n_genes is None or n_genes >= n_total:
        return np.arange(n_total)
    if n_genes < 1:
        raise InputError(f"n_input_genes must be >= 1, got {n_genes}")
    mean = np.asarray(log_norm.mean(axis=0)).ravel()
    sq = log_norm.multiply(log_norm)
    var = np.asarray(sq.mean(axis=0)).ravel() - mean**2
    top = np.argsort(-var, kind="stable")[:n_genes]
    return np.sort(top)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("gnnimpute", "torch", "torch_geometric", "scanpy", "anndata", "numpy", "scipy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out
