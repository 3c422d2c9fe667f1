"""Full-batch training that scores a random sample of cells per epoch (large graphs)."""

import itertools

import anndata as ad
import numpy as np
import pytest
import torch
from shared_helpers import FAST

import gnnimpute
import gnnimpute.graph.knn as graph
from gnnimpute.benchmark.mask import mask_counts
from gnnimpute.data.norm import scale_rows, size_factors
from gnnimpute.errors import InputError
from gnnimpute.memory import estimate_peak
from gnnimpute.nn.model import GNNImputeModel
from gnnimpute.training.entries import ObservedEntries
from gnnimpute.training.loss import GeneBatchLoss
from gnnimpute.training.loss_cells import LossCells, resolve_loss_cells


def _setup(sim_adata):
    target = scale_rows(sim_adata.X, size_factors(sim_adata.X))
    rng = np.random.default_rng(0)
    entries = ObservedEntries(target, 0.05, rng)
    loss_fn = GeneBatchLoss(entries, target, 64, torch.device("cpu"), detection_weight=1.0)
    genes, weights = loss_fn.sample_genes(rng)
    x = torch.as_tensor(np.log1p(target.toarray()[:, :20]), dtype=torch.float32)
    edges = torch.as_tensor(graph.knn_edge_index(graph.knn_indices(x.numpy(), 5)))
    model = GNNImputeModel(20, target.shape[1], hidden=(16, 8), heads=2, detection=True).eval()
    with torch.no_grad():
        h = model.decode_hidden(model.encode(x, edges))
    return target, entries, loss_fn, genes, weights, model, h


def test_sampling_every_cell_gives_the_full_loss(sim_adata):
    target, entries, loss_fn, genes, weights, model, h = _setup(sim_adata)
    n = target.shape[0]
    with torch.no_grad():
        full = float(loss_fn(model, h, entries.train, genes, weights))
    cells = LossCells(entries, loss_fn, n, n, np.random.default_rng(1))
    sample = cells.draw()
    np.testing.assert_array_equal(sample, np.arange(n))
    view = cells.view(sample, entries.train)
    assert view.entries.rows.size == entries.train.size
    loss_fn.observed = None  # as fit does: the views need only the sampler's by-rows copy
    with torch.no_grad():
        positions = np.arange(entries.train.size)
        sampled = float(view(model, h[sample], positions, genes, weights))
    assert sampled == pytest.approx(full, rel=1e-5)


def test_cell_samples_estimate_the_full_loss(sim_adata):
    """Both loss terms are means over cells: the average over samples is the full-graph loss."""
    target, entries, loss_fn, genes, weights, model, h = _setup(sim_adata)
    n = target.shape[0]
    with torch.no_grad():
        full = float(loss_fn(model, h, entries.train, genes, weights))
    cells = LossCells(entries, loss_fn, n, n // 4, np.random.default_rng(1))
    with torch.no_grad():
        losses = []
        for _ in range(200):
            sample = cells.draw()
            assert sample.size == n // 4 and np.unique(sample).size == sample.size
            view = cells.view(sample, entries.train)
            rows = view.entries.rows
            assert rows.min() >= 0 and rows.max() < sample.size  # renumbered into the sample
            np.testing.assert_array_equal(np.unique(rows), np.arange(sample.size))
            positions = np.arange(rows.size)
            losses.append(float(view(model, h[sample], positions, genes, weights)))
    assert np.std(losses) > 0  # the samples differ
    assert np.mean(losses) == pytest.approx(full, rel=0.03)


def test_resolve_loss_cells():
    cpu = torch.device("cpu")
    assert resolve_loss_cells("auto", 100_000, cpu) == 16_384
    assert resolve_loss_cells("auto", 2_000, cpu) == 0  # small data: every cell, as before
    assert resolve_loss_cells("auto", 10**6, torch.device("cuda")) == 0
    assert resolve_loss_cells("500", 1_000, cpu) == 500
    assert resolve_loss_cells(1_000, 1_000, cpu) == 0  # a sample of every cell is every cell
    assert resolve_loss_cells("0", 1_000, cpu) == 0
    assert resolve_loss_cells(None, 1_000, cpu) == 0
    for bad in (-1, "many", 0.5, 100.0, True):
        with pytest.raises(InputError, match="loss_cells"):
            resolve_loss_cells(bad, 1_000, cpu)
    with pytest.raises(InputError, match="at least 64"):
        resolve_loss_cells(8, 1_000, cpu)


def test_memory_estimate_counts_only_the_scored_cells_in_the_decoder():
    every = estimate_peak(100_000, 2_000, 15_000_000)
    sampled = estimate_peak(100_000, 2_000, 15_000_000, loss_cells=16_384)
    assert sampled.parts["training"] < 0.6 * every.parts["training"]
    assert sampled.parts["sparse counts"] == every.parts["sparse counts"]


@pytest.mark.slow  # six short trainings: ~20 s
def test_training_on_cell_samples_stays_accurate(sim_adata):
    """Scoring half the cells per epoch of a 150-cell graph (a far noisier gradient than 16,384
    cells of an atlas): over three seeds, close to scoring all, far better than predicting 0."""
    hidden = mask_counts(sim_adata.X, 0.1, seed=0)
    s = size_factors(hidden.masked)
    truth = hidden.values * s[hidden.rows]
    n = sim_adata.n_obs
    err = {0: [], n // 2: []}
    for loss_cells, seed in itertools.product(err, range(3)):
        a = ad.AnnData(X=hidden.masked.copy())
        gnnimpute.impute(a, loss_cells=loss_cells, random_state=seed,
                         **{**FAST, "epochs": 30, "patience": 30})  # fmt: skip
        assert a.uns["gnnimpute"]["params"]["loss_cells"] == loss_cells
        pred = np.asarray(a.layers["gnnimpute_level"][hidden.rows, hidden.cols]).ravel()
        err[loss_cells].append(float(np.mean((pred - truth) ** 2)))
    assert np.mean(err[n // 2]) < 0.5 * float(np.mean(truth**2)), err
    assert np.mean(err[n // 2]) < 1.35 * np.mean(err[0]), err


def test_training_scores_a_sample_and_records_it(sim_adata):
    """The sampled path runs end to end (training, validation on a fixed sample, zero term too)."""
    n = sim_adata.n_obs
    every = gnnimpute.impute(ad.AnnData(X=sim_adata.X.copy()), **{**FAST, "epochs": 4})
    sampled = gnnimpute.impute(ad.AnnData(X=sim_adata.X.copy()), loss_cells=n // 2,
                               **{**FAST, "epochs": 4})  # fmt: skip
    assert every.uns["gnnimpute"]["params"]["loss_cells"] == 0
    assert sampled.uns["gnnimpute"]["params"]["loss_cells"] == n // 2
    a, b = every.layers["gnnimpute"], sampled.layers["gnnimpute"]
    assert np.isfinite(b).all() and b.shape == a.shape
    assert not np.array_equal(a, b)  # the loss really was taken on a sample
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9  # ... estimating the same thing
    zero = gnnimpute.impute(ad.AnnData(X=sim_adata.X.copy()), loss_cells=n // 2,
                            zero_weight=0.5, decoder="level", **{**FAST, "epochs": 3})  # fmt: skip
    assert np.isfinite(zero.layers["gnnimpute"]).all()
    # mini-batches score their seeds: the option is not recorded as in effect
    mini = gnnimpute.impute(ad.AnnData(X=sim_adata.X.copy()), batch_cells=40, loss_cells=n // 2,
                            **{**FAST, "epochs": 2})  # fmt: skip
    assert mini.uns["gnnimpute"]["params"]["loss_cells"] == 0


def test_pinned_zero_pattern_serves_only_its_gene_batch(sim_adata):
    """Validation's gene batch keeps its zero pattern; any other batch is built afresh."""
    target, _, loss_fn, val_genes, _, _, _ = _setup(sim_adata)
    loss_fn.pin_zeros(val_genes)
    pinned = loss_fn._pinned(val_genes)
    assert pinned is loss_fn._pinned_zeros[1]  # served, not rebuilt
    dense = target.toarray()
    np.testing.assert_array_equal(pinned.numpy(), (dense[:, val_genes] == 0).astype(np.float32))
    other, _ = loss_fn.sample_genes(np.random.default_rng(5))
    assert not np.array_equal(other, val_genes)
    assert loss_fn._pinned(other) is None
    fresh = loss_fn._observed_zeros(torch.as_tensor(other))
    np.testing.assert_array_equal(fresh.numpy(), (dense[:, other] == 0).astype(np.float32))
