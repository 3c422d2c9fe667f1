"""Mini-batch training over cell subgraphs, for graphs too big to train on whole.

Cells are grouped into clusters (k-means on the encoder input, which is PCA-like) once. Each
step takes a few random clusters as seed cells plus their 2-hop neighbourhood, so the seeds'
2-layer GNN output is the one the whole graph would give; the loss is taken on the hidden
entries of the seed cells only. Clusters rather than random seeds keep the 2-hop halo small:
kNN neighbours mostly share a cluster, so every cell is computed about once or twice per epoch
instead of ~50 times. The encoder input with the epoch's entries hidden is built once per epoch
(cells x n_input, small), exactly as full-batch training does; everything per step is sized by
the batch. The epoch loop mirrors `full_batch.fit_full_batch`: same hidden entries, validation and stopping rule.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
import torch

from ..nn.inputs import EncoderInput
from ..nn.model import GNNImputeModel
from .config import parse_cell_count
from .entries import training_entries
from .loss import GeneBatchLoss, cells_view
from .stopping import EarlyStopping

# A full-batch epoch costs ~3x less CPU than a mini-batch one (the 2-hop halos recompute
# neighbours; docs/scale.md), so "auto" trains full batch whenever it fits in memory.
AUTO_BATCH_CELLS = {"cpu": 4_096, "cuda": 65_536}  # a GPU wants large steps
FIT_SHARE = 0.8  # full batch "fits" when its estimated peak is under this share of what is free
CLUSTER_CELLS = 512  # cells per k-means cluster; a batch is batch_cells / CLUSTER_CELLS clusters
VALIDATION_CELLS = 8_192  # seed cells whose held-out entries drive early stopping


def resolve_batch_cells(
    choice: int | str | None,
    n_cells: int,
    device: torch.device,
    *,
    full_batch_bytes: int | None = None,
    training_bytes: int | None = None,
) -> int:
    """0 (full batch) or the number of seed cells per mini-batch.

    "auto" is full batch unless its estimated peak (`full_batch_bytes`, host) or its training
    activations (`training_bytes`, on a GPU) exceed FIT_SHARE of the free memory.
    """
    if choice in (None, 0, "0"):
        return 0
    if choice == "auto":
        kind = "cuda" if torch.device(device).type == "cuda" else "cpu"
        fits = True
        if kind == "cuda" and training_bytes is not None:
            free, _ = torch.cuda.mem_get_info(torch.device(device))
            fits = training_bytes <= FIT_SHARE * free
        if full_batch_bytes is not None:
            from ..memory import available_bytes

            avail = available_bytes()
            fits = fits and (avail is None or full_batch_bytes <= FIT_SHARE * avail)
        return 0 if fits or AUTO_BATCH_CELLS[kind] >= n_cells else AUTO_BATCH_CELLS[kind]
    value = parse_cell_count(choice, "batch_cells")
    return 0 if value >= n_cells else value


class SubgraphBatches:
    """Seed-cell batches (unions of clusters) and their 2-hop induced subgraphs."""

    def __init__(self, edge_index: np.ndarray, n_cells: int, features: np.ndarray, batch_cells: int,
                 *, seed: int = 0):  # fmt: skip
        src, dst = edge_index
        self.adj = sp.csr_matrix(
            (np.ones(src.size, dtype=np.int8), (dst.astype(np.int32), src.astype(np.int32))),
            shape=(n_cells, n_cells),
        )  # row i lists the cells that send messages to i
        self.n_cells = n_cells
        # at least 4 clusters per batch, so batches differ from epoch to epoch
        cluster_cells = max(1, min(CLUSTER_CELLS, batch_cells // 4))
        n_clusters = max(1, round(n_cells / cluster_cells))
        self.per_batch = max(1, round(batch_cells / cluster_cells))
        if n_clusters > 1:
            from sklearn.cluster import MiniBatchKMeans

            km = MiniBatchKMeans(n_clusters, random_state=seed, n_init=1, batch_size=4096)
            labels = km.fit_predict(np.ascontiguousarray(features[:, :20], dtype=np.float32))
        else:
            labels = np.zeros(n_cells, dtype=np.int64)
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(n_clusters + 1))
        self.clusters = [order[a:b] for a, b in itertools.pairwise(bounds) if b > a]

    def epoch(self, rng: np.random.Generator):
        """Yield (seeds, nodes) per batch: sorted seed cells and sorted subgraph cells."""
        perm = rng.permutation(len(self.clusters))
        for start in range(0, perm.size, self.per_batch):
            seeds = np.sort(
                np.concatenate([self.clusters[c] for c in perm[start : start + self.per_batch]])
            )
            yield seeds, self.halo(seeds, hops=2)

    def halo(self, seeds: np.ndarray, hops: int) -> np.ndarray:
        mark = np.zeros(self.n_cells, dtype=bool)
        mark[seeds] = True
        frontier = seeds
        for _ in range(hops):
            nxt = self.adj[frontier].indices
            frontier = nxt[~mark[nxt]]
            mark[frontier] = True
        return np.flatnonzero(mark)

    def subgraph(self, nodes: np.ndarray) -> np.ndarray:
        """Edges among `nodes` (2 x E, local indices, PyG source -> target)."""
        sub = self.adj[nodes][:, nodes].tocoo()
        return np.vstack([sub.col, sub.row]).astype(np.int64)


def fit_minibatch(model: GNNImputeModel, inputs: EncoderInput, edge_index: torch.Tensor,
                  target: sp.csr_matrix, config, *, seed: int = 0):  # fmt: skip
    """`training.fit` with each epoch one pass over seed-cell batches; same result type."""
    device = edge_index.device
    rng = np.random.default_rng(seed)
    entries = training_entries(target, config, rng)
    loss_fn = GeneBatchLoss.for_config(entries, target, config, device)
    # the detection term reads the seeds' rows of the observed pattern
    pattern = loss_fn.observed.tocsr() if loss_fn.observed is not None else None
    n_entries = max(entries.rows.size, 1)
    val_genes, val_weights = loss_fn.sample_genes(rng)
    n_cells = target.shape[0]
    batches = SubgraphBatches(edge_index.cpu().numpy(), n_cells, inputs.full().cpu().numpy(),
                              config.batch_cells, seed=seed)  # fmt: skip
    # Entries are in row-major order, so a cell's entries are one contiguous range.
    entry_ptr = np.searchsorted(entries.rows, np.arange(n_cells + 1))
    val_mask = np.zeros(entries.rows.size, dtype=bool)
    val_mask[entries.val] = True

    validate = BatchValidation(
        batches, entries, inputs, loss_fn, entry_ptr, val_mask, pattern, val_genes, val_weights,
        device, rng=np.random.default_rng(seed + 1),
    )  # fmt: skip
    stopping, opt, ema = EarlyStopping.begin(model, config, validate)
    reporter = stopping.reporter
    for epoch in reporter.track(stopping.bar):
        model.train()
        picked = entries.sample_train(config.mask_rate, rng)
        x_all = entries.hidden_input(inputs, np.concatenate([entries.val, picked]))
        train_mask = np.zeros(entries.rows.size, dtype=bool)
        train_mask[picked] = True
        train_sum, n_train = 0.0, 0
        for step, (seeds, nodes) in enumerate(batches.epoch(rng), start=1):
            reporter.step = f"batch {step}"
            sub = torch.as_tensor(batches.subgraph(nodes), device=device)
            x = x_all[torch.as_tensor(nodes, device=x_all.device)].to(device)
            # seeds' positions in the subgraph; the decoder only runs on them
            seed_pos = torch.as_tensor(np.searchsorted(nodes, seeds), device=device)
            batch_loss = _seed_loss(loss_fn, entries, entry_ptr, train_mask, seeds,
                                    pattern=pattern, share=picked.size / n_entries)  # fmt: skip
            opt.zero_grad()
            h = model.decode_hidden(model.encode(x, sub)[seed_pos])
            n_hidden = batch_loss.entries.rows.size
            loss = batch_loss(model, h, np.arange(n_hidden), *loss_fn.sample_genes(rng))
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update(model)
            train_sum += float(loss.detach()) * n_hidden
            n_train += n_hidden
        reporter.step = "validation"
        scored = ema.model if ema is not None else model
        # the weights after the epoch's last step, in eval mode: the weights early stopping saves
        val_loss = validate(scored)
        reporter.step = ""
        if stopping.update(epoch, train_sum / max(n_train, 1), val_loss, scored):
            break
    return stopping.finish(model)


class BatchValidation:
    """Eval-mode loss at the held-out entries of a fixed sample of seed batches.

    Like `full_batch.Validation`, the input hides exactly the held-out entries and the model runs
    without dropout, so the same weights always score the same; a fixed sample of about
    VALIDATION_CELLS seed cells (with their 2-hop subgraphs) bounds its cost at any scale.
    """

    def __init__(self, batches, entries, inputs, loss_fn, entry_ptr, val_mask, pattern, genes,
                 weights, device, *, rng):  # fmt: skip
        val = entries.val
        x_val = entries.hidden_input(inputs, val)
        n_entries = max(entries.rows.size, 1)
        self.genes, self.weights, self.parts = genes, weights, []
        n_seeds = 0
        for seeds, nodes in batches.epoch(rng):
            view = _seed_loss(loss_fn, entries, entry_ptr, val_mask, seeds,
                              pattern=pattern, share=val.size / n_entries)  # fmt: skip
            if view.entries.rows.size:
                sub = torch.as_tensor(batches.subgraph(nodes), device=device)
                x = x_val[torch.as_tensor(nodes, device=x_val.device)].to(device)
                pos = torch.as_tensor(np.searchsorted(nodes, seeds), device=device)
                self.parts.append((x, sub, pos, view))
            n_seeds += seeds.size
            if n_seeds >= VALIDATION_CELLS:
                break

    @torch.no_grad()
    def __call__(self, model: GNNImputeModel) -> float:
        was_training = model.training
        model.eval()
        total = count = 0.0
        for x, sub, pos, view in self.parts:
            n = view.entries.rows.size
            h = model.decode_hidden(model.encode(x, sub)[pos])
            total += float(view(model, h, np.arange(n), self.genes, self.weights)) * n
            count += n
        model.train(was_training)
        return total / max(count, 1)


def _seed_loss(loss_fn, entries, entry_ptr, chosen: np.ndarray, seeds: np.ndarray, *, pattern,
               share: float):  # fmt: skip
    """`loss_fn` on the seeds' entries that `chosen` (a mask over all entries) marks."""
    seed_entries = _ranges(entry_ptr, seeds)
    return cells_view(loss_fn, entries, seed_entries[chosen[seed_entries]], seeds,
                      entry_ptr.size - 1, pattern=pattern, share=share)  # fmt: skip


def _ranges(ptr: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Concatenated ranges ptr[c]:ptr[c + 1] for the given cells, without a Python loop."""
    starts, lengths = ptr[cells], ptr[cells + 1] - ptr[cells]
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total, dtype=np.int64) + offsets
