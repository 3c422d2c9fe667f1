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
from .options import ImputeOptions, build_options
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

    The model learns only from these counts: it hides observed entries and learns to predict them.
    No QC happens here (see `gnnimpute.data.qc`), so every cell and gene is kept in order.

    Parameters
    ----------
    adata
        Raw counts in `X` (or in `layers[layer]`); the input layer is never changed.
    qc_summary
        What a QC step before this call kept (`gnnimpute.data.qc`); recorded in `uns`.
    encoder_input, n_input
        What the encoder reads: "pca", the log-normalized counts of all genes projected on their
        first `n_input` principal axes (fixed; hidden entries are subtracted), or "genes", the
        log-normalized counts of the `n_input` most variable genes (all if None). The decoder
        always predicts every gene.
    zero_weight
        Weight of an observed zero (target 0) relative to a hidden non-zero in the loss. 0 fits
        the value a count has when it is detected; larger values pull genes that are off in a
        context towards 0, which helps clustering and costs accuracy on hidden counts.
    val_seed
        None: the validation split is drawn from `random_state` with everything else. A number
        draws the split alone from it, every other draw of the run unchanged: it measures how
        much a result depends on which entries were held out.
    predict_draws
        The output is the mean over this many inputs that each hide the share of observed
        non-zeros training hid (val_rate + mask_rate of the rest): the complete matrix is an input
        the model never saw in training, on which it under-predicts. 0: one pass on it.
    lr_patience, lr_factor
        After `lr_patience` epochs without a counted gain (and every `lr_patience` more), the
        learning rate is multiplied by `lr_factor`; 0 keeps it constant.
    patience, min_delta
        Training stops `patience` epochs after the last real improvement: a validation loss at
        least `min_delta` (a share, e.g. 0.01 = 1 %) below the loss at the improvement before.
        The weights returned are always those of the best-scoring epoch.
    ema_decay
        If > 0, return an exponential moving average of the weights (validated in eval mode).
        Off by default: it helped PBMC a little, hurt Baron and doubled the epochs (README).
    decoder, detection_weight, blend
        "hurdle" (default): the decoder has two per-gene heads, the level a gene has where it is
        detected (MSE at hidden non-zeros) and P(detected) (cross-entropy on the entries the
        encoder sees as zero: observed zeros, label 0, weighted by the hiding rate, and hidden
        non-zeros, label 1), the latter weighted by `detection_weight` on the level loss's
        scale. Both go to `layers[key_added + '_level']` and `layers[key_added +
        '_detection']`; `layers[key_added]` is level x g(p), g given by `blend` (see
        `gnnimpute.output.blend`: level, expected, power:x, gate:a,b; keep:SPEC, the default
        keep:expected, keeps the observed normalized counts and fills only the zeros with
        SPEC's value, so clustering keeps what the data show). "level": the level head alone,
        shrunk by `detection_shrink`, without a detection head.
    level_mix
        Average this share of the neighbours' level (`gnnimpute.graph.level`, over the
        `detection_k` nearest neighbours, no training) into the model's level.
    attn_dropout, weight_decay
        Dropout on the attention coefficients; Adam's weight decay.
    preset, options, option_values
        The options, one object per concern (`gnnimpute.options`: graph, model, training,
        output): `options` (or the defaults), then the named preset's values (`gnnimpute.presets`,
        e.g. "paper"), then any option given by name, e.g. `epochs=50`; the last one wins. The
        options are described here by name.
    detection_shrink, detection_k
        Level decoder only. The model predicts the level a gene has where it is detected. The output is multiplied by
        d ** detection_shrink, d the (Laplace-smoothed) share of the cell and its `detection_k`
        nearest neighbours in which the gene is detected: 0 keeps the level-if-detected (best on hidden counts), 1
        gives the expected value (genes that are off in a cell type go to 0, best for clustering).
    copy
        Annotate and return a copy instead of `adata` itself.
    batch_cells
        Seed cells per mini-batch (each trained with its 2-hop neighbourhood); 0 or None trains
        full-batch; "auto" switches to mini-batches where full-batch would be slower or too big.
    loss_cells
        Full-batch training only: cells whose loss is scored per epoch, a fresh random sample
        each epoch (the encoder still runs on every cell); 0 or None scores every cell; "auto"
        is 16,384 on a CPU (no effect on smaller data) and every cell on a GPU.
    layers
        Which dense layers to write (`gnnimpute.output.layers`): names among "gnnimpute",
        "level", "detection" and "expected" (level x P(detected)), as a sequence or a
        comma-separated string, or "all". None (the default here) writes the layers of the
        decoder: all three of the hurdle decoder's. The command line writes only "gnnimpute"
        unless told. Each costs 4 bytes per cell x gene; values do not depend on the choice.
    embedding_key
        The `obsm` key of the embedding: "auto" is 'X_' + `key_added`; None or "none" writes
        no embedding.
    stream_to
        If set, write the annotated AnnData to this .h5ad (replacing it), with the dense layers
        produced and written one cell chunk at a time; they are then not kept in `adata`.

    Returns
    -------
    The annotated AnnData, with
    `layers[key_added]`: imputed values, float32, in normalized-count space (cell i scaled by
    median(L) / L_i, L_i its total counts);
    `layers[key_added + '_detection']`, `layers[key_added + '_level']` (hurdle decoder):
    P(detected) in [0, 1] and the level (>= 0, normalized counts);
    (each as chosen by `layers`; `key_added + '_expected'`, level x P(detected), on request);
    `obsm['X_' + key_added]` (or `embedding_key`): the bottleneck embedding (cells x hidden[1]);
    `uns[key_added]`: params, seed, versions, per-epoch losses, QC summary and wall time.
    """
    start = time.perf_counter()
    opts = build_options(options, preset, **option_values)
    k, n_pcs, detection_k = opts.graph.k, opts.graph.n_pcs, opts.graph.detection_k
    model_opts, training, out = opts.model, opts.training, opts.output
    encoder_input, n_input, hidden = model_opts.encoder_input, model_opts.n_input, model_opts.hidden
    decoder, blend, level_mix = model_opts.decoder, out.blend, out.level_mix
    predict_draws, detection_shrink = out.predict_draws, out.detection_shrink
    written = parse_layers(layers, decoder)
    obsm_key = resolve_embedding_key(embedding_key, key_added)
    if copy:
        adata = adata.copy()
    counts = sp.csr_matrix(adata.layers[layer] if layer is not None else adata.X, dtype=np.float32)
    validate_counts(
        ad.AnnData(X=counts), allow_non_integer=allow_non_integer, min_cells=k + 1,
        why=f"k + 1 for the kNN graph, k={k} (--k)",
    )  # fmt: skip
    detection_k_requested = detection_k
    detection_k = effective_detection_k(detection_k, counts.shape[0])
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(random_state)
    dev = resolve_device(device)

    sizes = dict(
        n_input=n_input or n_pcs, hidden=hidden, heads=model_opts.heads,
        gene_batch=training.gene_batch, k=k,
        predict_draws=predict_draws, streamed=stream_to is not None,
        n_dense_layers=len(written),  # the layers kept in memory (or streamed)
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
    with stage("normalize", progress):
        factors = size_factors(counts)
        target = scale_rows(counts, factors)
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
    del log_norm  # the inputs hold what they need; a sparse copy less at the training peak
    ei = torch.as_tensor(edge_index, device=dev)
    model = GNNImputeModel(
        inputs.n_features,
        counts.shape[1],
        hidden=hidden,
        heads=model_opts.heads,
        layer_type=model_opts.layer_type,
        dropout=model_opts.dropout,
        attn_dropout=model_opts.attn_dropout,
        detection=decoder == "hurdle",
    )
    model.gene_scale.copy_(torch.as_tensor(nonzero_mean(target)))
    if model.det is not None:  # start each gene at its observed detection rate
        rate = np.clip(np.diff(sp.csc_matrix(counts).indptr) / counts.shape[0], 1e-4, 1 - 1e-4)
        model.det.bias.data.copy_(torch.as_tensor(np.log(rate / (1 - rate)), dtype=torch.float32))
    model = model.to(dev)
    config = TrainConfig(
        **{
            **dataclasses.asdict(training),
            "detection_weight": training.detection_weight if decoder == "hurdle" else 0.0,
            "progress": progress,
            "batch_cells": batch,
            "loss_cells": 0 if batch else scored_cells,  # mini-batches score their seeds
        }
    )
    with stage("training", progress):
        result = fit(model, inputs, ei, target, config, seed=random_state)
    with stage("prediction", progress):
        zs, embedding = encode_draws(
            model, inputs, ei, observed=target,
            hide_rate=config.hidden_share if predict_draws else 0.0, draws=predict_draws,
            seed=random_state,
        )  # fmt: skip
    # the neighbours' (no-training) level, averaged into the model's level
    level_source = NeighbourLevel(target, neighbors[:, :detection_k]) if level_mix > 0 else None

    def dense_chunk(rows: slice) -> dict[str, np.ndarray]:
        """Every dense output layer for the cells in `rows`: what is written, or kept, per chunk."""
        level, detection = decode_layers(model, zs, rows)
        if level_source is not None:  # (1 - mix) level + mix neighbours' level, in place
            level *= np.float32(1 - level_mix)
            level += np.multiply(level_source.rows(rows), np.float32(level_mix))
        if detection is not None:
            layers = {
                key_added: blend_layers(level, detection, blend, observed=target[rows]),
                key_added + "_detection": detection,
                key_added + "_level": level,
            }
        else:
            if detection_shrink > 0:
                shrink_rows(level, counts, neighbors[:, :detection_k], detection_shrink, rows)
            layers = {key_added: level}
        for block in layers.values():
            check_output(block, embedding)
        return select_layers(layers, written, key_added)

    if stream_to is None:
        with stage("output", progress):
            adata.layers.update(fill_layers(dense_chunk, counts.shape[0]))
    if obsm_key is not None:
        adata.obsm[obsm_key] = embedding
    adata.uns[key_added] = {
        "params": _recorded_params(
            opts,
            config,
            layer=layer,
            device=str(dev),
            allow_non_integer=allow_non_integer,
            n_input=inputs.n_features,
            detection_k=detection_k,
            detection_k_requested=detection_k_requested,
        ),
        "seed": random_state,
        "versions": _versions(),
        "history": {key: np.asarray(v, dtype=np.float64) for key, v in result.history.items()},
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "n_edges": int(edge_index.shape[1]),
        "qc": qc_summary if qc_summary is not None else {},
        "train_seconds": result.seconds,
        "wall_seconds": time.perf_counter() - start,
        "normalization": "layers are counts x median(L)/L_i, L_i the cell's total counts in X",
    }
    if stream_to is not None:
        with stage("write", progress):
            write_h5ad_streamed(
                adata, stream_to, dense_chunk, compression=stream_compression, force=True
            )
    return adata


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
