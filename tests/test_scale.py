"""Scale features on small data: streamed output, memory guard, mini-batches, approximate kNN."""

import logging

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
from gnnimpute.memory import estimate_peak, parse_size
from gnnimpute.nn.model import GNNImputeModel
from gnnimpute.output.stream_write import fill_layers, should_stream, write_h5ad_streamed
from gnnimpute.progress import EpochReporter
from gnnimpute.training.minibatch import SubgraphBatches, _ranges, resolve_batch_cells


def _counts(sim_adata):
    return ad.AnnData(X=sim_adata.X.copy(), obs=sim_adata.obs.copy(), var=sim_adata.var.copy())


def test_streamed_output_equals_in_memory_output(sim_adata, tmp_path):
    path = tmp_path / "out.h5ad"
    kept = gnnimpute.impute(_counts(sim_adata), **{**FAST, "epochs": 3})
    streamed = gnnimpute.impute(_counts(sim_adata), stream_to=str(path), **{**FAST, "epochs": 3})
    assert "gnnimpute" not in streamed.layers  # never held in memory
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.layers["gnnimpute"], kept.layers["gnnimpute"])
    np.testing.assert_array_equal(back.obsm["X_gnnimpute"], kept.obsm["X_gnnimpute"])
    assert back.uns["gnnimpute"]["best_epoch"] == kept.uns["gnnimpute"]["best_epoch"]
    backed = ad.read_h5ad(path, backed="r")
    np.testing.assert_array_equal(backed.layers["gnnimpute"][5:9], kept.layers["gnnimpute"][5:9])
    backed.file.close()
    assert list(tmp_path.iterdir()) == [path]  # the temporary file was renamed, not left behind


def test_streamed_writer_is_generic_compressed_and_atomic(tmp_path):
    n, genes = 1000, 7
    adata = ad.AnnData(X=np.ones((n, genes), dtype=np.float32))
    adata.layers["mine"] = np.full((n, genes), 3.0, dtype=np.float32)  # the user's layer stays

    def chunk(rows):
        base = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None]
        return {"a": base + np.zeros((1, genes), np.float32), "b": -base.repeat(genes, 1)}

    path = tmp_path / "x.h5ad"
    write_h5ad_streamed(adata, path, chunk, rows_per_chunk=128, compression="gzip")
    back = ad.read_h5ad(path)
    expected = fill_layers(chunk, n, rows_per_chunk=300)
    np.testing.assert_array_equal(back.layers["a"], expected["a"])
    np.testing.assert_array_equal(back.layers["b"], expected["b"])
    assert back.layers["b"][999, 6] == -999 and back.layers["a"][999, 0] == 999
    np.testing.assert_array_equal(back.layers["mine"], adata.layers["mine"])

    def failing(rows):
        if rows.start >= 256:
            raise RuntimeError("boom")
        return chunk(rows)

    with pytest.raises(RuntimeError, match="boom"):
        write_h5ad_streamed(adata, tmp_path / "y.h5ad", failing, rows_per_chunk=128)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.h5ad"]  # nothing partial left
    with pytest.raises(InputError, match="exists"):
        write_h5ad_streamed(adata, path, chunk)
    with pytest.raises(ValueError, match="7 genes"):
        write_h5ad_streamed(adata, tmp_path / "z.h5ad", lambda rows: {"a": np.zeros((3, 2))})


def test_auto_streaming_threshold():
    assert not should_stream(10_000, 2_000)  # 80 MB
    assert should_stream(100_000, 15_000)  # 6 GB
    assert should_stream(10, 10, choice=True) and not should_stream(10**6, 10**4, choice=False)


def test_memory_guard_refuses_with_one_line_advice(sim_adata, monkeypatch):
    monkeypatch.setenv("GNNIMPUTE_MEMORY_LIMIT", "64M")
    with pytest.raises(InputError) as err:
        gnnimpute.impute(_counts(sim_adata), **FAST)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("estimated peak memory ") and "exceeds the 0.1 GiB available" in msg
    assert "--batch-cells" in msg and "--out-chunked" in msg


def test_memory_estimate_is_linear_in_cells_and_streaming_helps():
    sizes = [10_000, 100_000, 1_000_000]
    est = [estimate_peak(n, 2000, n * 160, batch_cells=0) for n in sizes]
    grown = [e.total - e.parts["base"] for e in est]  # all but the fixed start-up cost
    slope = np.polyfit(np.log(sizes), np.log(grown), 1)[0]
    assert slope == pytest.approx(1.0, abs=1e-6)
    assert 2 * 1024**3 < est[1].total < 8 * 1024**3  # 100k x 2k: within the 8 GB
    mini = estimate_peak(100_000, 2000, 100_000 * 160, batch_cells=4096)
    assert mini.total < 0.6 * est[1].total
    full = estimate_peak(100_000, 15_000, 150_000_000)
    streamed = estimate_peak(100_000, 15_000, 150_000_000, streamed=True, batch_cells=4096)
    assert full.total - streamed.total > 100_000 * 15_000 * 4 * 0.9
    assert parse_size("8G") == 8 * 1024**3 and parse_size("512MiB") == 512 * 1024**2
    with pytest.raises(InputError):
        parse_size("lots")


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


@pytest.mark.slow  # pynndescent's first call compiles (numba): ~30-60 s
def test_pynndescent_above_threshold_handles_duplicates(monkeypatch):
    monkeypatch.setattr(graph, "EXACT_KNN_MAX_CELLS", 10)
    rng = np.random.default_rng(0)
    base = rng.normal(size=(60, 5)).astype(np.float32)
    emb = np.vstack([base, base, np.zeros((30, 5), np.float32)])  # exact duplicates, a tie block
    nb = graph.knn_indices(emb, 5)
    assert nb.shape == (150, 5) and nb.min() >= 0 and nb.max() < 150
    assert not (nb == np.arange(150)[:, None]).any()  # never its own neighbour
    assert all(len(set(r)) == 5 for r in nb)  # no repeats
    assert (nb[:60] == np.arange(60, 120)[:, None]).any(axis=1).all()  # a twin is nearest


def test_approximate_neighbours_padding_repeats_and_overflow_are_repaired():
    rng = np.random.default_rng(0)
    # pynndescent's failure modes, injected: -1 padding, a repeated neighbour, an index past n
    from sklearn.neighbors import NearestNeighbors

    points = rng.normal(size=(12, 2))
    exact = NearestNeighbors(n_neighbors=6).fit(points).kneighbors(points, return_distance=False)
    idx = exact.copy()
    idx[3, 5] = -1
    idx[4, 5] = idx[4, 4]
    idx[5, 2] = 99
    idx[[0, 1, 2, 6], 1:] = idx[[0, 1, 2, 6], 1:][:, ::-1]  # valid, if oddly ordered: kept
    fixed = graph._repair_approximate(idx, points, 5)
    np.testing.assert_array_equal(fixed[[3, 4, 5]], exact[[3, 4, 5]])
    np.testing.assert_array_equal(fixed[[0, 1, 2, 6]], idx[[0, 1, 2, 6]])  # good rows untouched


def test_epoch_reporter_logs_state_and_stops(caplog):
    reporter = EpochReporter(100, 10, 5, interval=0.05)
    with caplog.at_level(logging.INFO, logger="gnnimpute"):
        for epoch in reporter.track(range(1, 4)):
            reporter.update(epoch, 2.0, 1.5, 1)
            import time

            time.sleep(0.12)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("epoch ") and "ETA" in line and "val 1.5" in line for line in lines)
    assert not reporter._thread.is_alive()


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


def test_epoch_reporter_eta_counts_patience_from_the_epoch_it_restarted():
    """With min_delta, patience runs from the last real gain, which may precede the best epoch."""
    reporter = EpochReporter(1000, 10, 5, enabled=False)
    reporter.update(30, 2.0, 1.5, 28)
    assert "stop at epoch 38 " in reporter.line()
    reporter.update(30, 2.0, 1.5, 28, patience_from=21)
    assert "stop at epoch 31 " in reporter.line()
