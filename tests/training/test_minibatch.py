"""Mini-batch training over 2-hop subgraphs: the same loss and accuracy as full batch."""

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
from gnnimpute.nn.model import GNNImputeModel
from gnnimpute.training.minibatch import SubgraphBatches, _ranges, resolve_batch_cells


def test_resolve_batch_cells(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_batch_cells("auto", 4_000, cpu) == 0
    monkeypatch.setenv("GNNIMPUTE_MEMORY_LIMIT", "10G")
    assert resolve_batch_cells("auto", 100_000, cpu, full_batch_bytes=7 * 1024**3) == 0
    assert resolve_batch_cells("auto", 100_000, cpu, full_batch_bytes=9 * 1024**3) == 4096
    assert resolve_batch_cells("auto", 3_000, cpu, full_batch_bytes=9 * 1024**3) == 0
    assert resolve_batch_cells("300", 1_000, cpu) == 300
    assert resolve_batch_cells(5_000, 1_000, cpu) == 0  # one batch is the full batch
    with pytest.raises(InputError):
        resolve_batch_cells("many", 1_000, cpu)


def test_subgraph_gives_seeds_their_full_graph_output():
    """Two hops around the seeds: a 2-layer GNN's seed outputs equal the whole graph's."""
    rng = np.random.default_rng(0)
    n = 400
    features = rng.normal(size=(n, 6)).astype(np.float32)
    edge_index = graph.knn_edge_index(graph.knn_indices(features[:, :2], 4))
    batches = SubgraphBatches(edge_index, n, features, batch_cells=100, seed=0)
    seeds, nodes = next(batches.epoch(rng))
    assert np.all(np.isin(seeds, nodes)) and nodes.size < n
    model = GNNImputeModel(6, 3, hidden=(8, 4), heads=2).eval()
    with torch.no_grad():
        whole = model.encode(torch.as_tensor(features), torch.as_tensor(edge_index))
        sub = model.encode(
            torch.as_tensor(features[nodes]), torch.as_tensor(batches.subgraph(nodes))
        )
    pos = np.searchsorted(nodes, seeds)
    torch.testing.assert_close(sub[pos], whole[seeds], rtol=1e-5, atol=1e-6)
    covered = np.concatenate([s for s, _ in batches.epoch(rng)])
    np.testing.assert_array_equal(np.sort(covered), np.arange(n))  # every cell a seed once


def test_ranges():
    ptr = np.array([0, 2, 2, 5, 9])
    np.testing.assert_array_equal(_ranges(ptr, np.array([0, 1, 3])), [0, 1, 5, 6, 7, 8])
    assert _ranges(ptr, np.array([1])).size == 0


def test_minibatch_loss_is_the_full_batch_loss_split_over_seeds(sim_adata):
    """In eval mode the seed batches of an epoch partition the full-batch loss exactly."""
    from gnnimpute.training.entries import ObservedEntries
    from gnnimpute.training.loss import GeneBatchLoss, batch_view

    target = scale_rows(sim_adata.X, size_factors(sim_adata.X))
    rng = np.random.default_rng(0)
    entries = ObservedEntries(target, 0.05, rng)
    loss_fn = GeneBatchLoss(entries, target, 64, torch.device("cpu"), detection_weight=1.0)
    pattern, share = loss_fn.observed.tocsr(), entries.train.size / entries.rows.size
    genes, weights = loss_fn.sample_genes(rng)
    x = torch.as_tensor(np.log1p(target.toarray()[:, :20]), dtype=torch.float32)
    edge_index = graph.knn_edge_index(graph.knn_indices(x.numpy(), 5))
    model = GNNImputeModel(20, target.shape[1], hidden=(16, 8), heads=2, detection=True).eval()
    with torch.no_grad():
        full = float(
            loss_fn(model, model.decode_hidden(model.encode(x, torch.as_tensor(edge_index))),
                    entries.train, genes, weights)
        )  # fmt: skip
        batches = SubgraphBatches(edge_index, target.shape[0], x.numpy(), 40, seed=0)
        ptr = np.searchsorted(entries.rows, np.arange(target.shape[0] + 1))
        is_train = np.zeros(entries.rows.size, dtype=bool)
        is_train[entries.train] = True
        total, n = 0.0, 0
        for seeds, nodes in batches.epoch(rng):
            local = np.full(target.shape[0], -1)
            local[seeds] = np.arange(seeds.size)
            idx = _ranges(ptr, seeds)
            view = batch_view(
                loss_fn, entries, idx[is_train[idx]], local, seeds=seeds, pattern=pattern,
                share=share,
            )  # fmt: skip
            z = model.encode(x[nodes], torch.as_tensor(batches.subgraph(nodes)))
            h = model.decode_hidden(z[np.searchsorted(nodes, seeds)])
            m = view.entries.rows.size
            total += float(view(model, h, np.arange(m), genes, weights)) * m
            n += m
    assert n == entries.train.size
    assert total / n == pytest.approx(full, rel=1e-5)


@pytest.mark.slow  # two trainings: ~20 s on an idle 2-core machine
def test_minibatch_training_is_as_accurate_as_full_batch(sim_adata):
    """At equal epochs mini-batches take more steps: as accurate or better, never much worse."""
    hidden = mask_counts(sim_adata.X, 0.1, seed=0)
    s = size_factors(hidden.masked)
    truth = hidden.values * s[hidden.rows]
    err = {}
    for batch in (0, 40):
        a = ad.AnnData(X=hidden.masked.copy())
        gnnimpute.impute(a, batch_cells=batch, **{**FAST, "epochs": 30, "patience": 30})
        assert a.uns["gnnimpute"]["params"]["batch_cells"] == batch
        pred = np.asarray(a.layers["gnnimpute"][hidden.rows, hidden.cols]).ravel()
        err[batch] = float(np.mean((pred - truth) ** 2))
    assert err[40] < 0.5 * float(np.mean(truth**2))
    assert err[40] < 1.25 * err[0], err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_full_and_minibatch_training_match_cpu_quality(sim_adata):
    """The same code on CUDA: sparse GAT products, mini-batches, hidden inputs built on device."""
    from gnnimpute.nn.sparse_gat import SparseGATConv

    layer = SparseGATConv(7, 5, heads=3, concat=False, add_self_loops=False).cuda()
    edge_index = torch.as_tensor(graph.knn_edge_index(graph.knn_indices(np.eye(30, 7), 3))).cuda()
    x = torch.randn(30, 7, device="cuda", requires_grad=True)
    layer(x, edge_index).sum().backward()
    assert x.grad.is_cuda and torch.isfinite(x.grad).all()
    hidden = mask_counts(sim_adata.X, 0.1, seed=0)
    s = size_factors(hidden.masked)
    truth = hidden.values * s[hidden.rows]
    for batch in (0, 40):
        errs = {}
        for device in ("cpu", "cuda"):
            a = ad.AnnData(X=hidden.masked.copy())
            gnnimpute.impute(a, device=device, batch_cells=batch, **{**FAST, "epochs": 30})
            assert a.uns["gnnimpute"]["params"]["device"].startswith(device)
            pred = np.asarray(a.layers["gnnimpute"][hidden.rows, hidden.cols]).ravel()
            errs[device] = float(np.mean((pred - truth) ** 2))
        assert errs["cuda"] < 1.25 * errs["cpu"], (batch, errs)


def test_minibatch_early_stopping_restores_weights_validated_in_eval_mode():
    """Mini-batch training, like full batch, saves the weights it validated, in eval mode.

    With fewer cells than the validation sample, every held-out entry is scored, and the seeds'
    2-hop subgraphs give the full graph's output: so the restored weights must reproduce the best
    recorded loss as the plain MSE of the full graph's eval-mode output at the held-out entries.
    """
    import scipy.sparse as sp

    from gnnimpute.graph.knn import knn_edge_index
    from gnnimpute.nn.inputs import GeneInput
    from gnnimpute.training import fit
    from gnnimpute.training.config import TrainConfig
    from gnnimpute.training.entries import ObservedEntries

    rng = np.random.default_rng(0)
    n, g = 120, 30
    target = sp.csr_matrix(
        rng.poisson(0.7, (n, g)).astype(np.float32) * rng.gamma(2, 5, g).astype(np.float32)
    )
    log_norm = target.copy()
    log_norm.data = np.log1p(log_norm.data)
    inputs = GeneInput(log_norm, np.arange(g), torch.device("cpu"))
    nbrs = np.stack([(np.arange(n) + 1) % n, (np.arange(n) - 1) % n], axis=1)
    edge_index = torch.as_tensor(knn_edge_index(nbrs))
    torch.manual_seed(0)
    model = GNNImputeModel(g, g, hidden=(16, 4), dropout=0.5)
    cfg = TrainConfig(epochs=25, patience=5, min_epochs=1, lr=1e-2, progress=False,
                      detection_weight=0.0, batch_cells=40)  # fmt: skip
    result = fit(model, inputs, edge_index, target, cfg, seed=3)
    best = min(result.history["val_loss"])
    assert result.history["val_loss"][result.best_epoch - 1] == best
    assert np.isclose(result.validate(model), best, rtol=1e-6) and model.training
    e = ObservedEntries(target, cfg.val_rate, np.random.default_rng(3))
    x = inputs.hidden(e.rows[e.val], e.cols[e.val], np.log1p(e.values[e.val]))
    model.eval()
    with torch.no_grad():
        out = model(x, edge_index)[0].numpy()
    mse = np.mean((out[e.rows[e.val], e.cols[e.val]] - e.values[e.val]) ** 2)
    assert np.isclose(mse, best, rtol=1e-4)
