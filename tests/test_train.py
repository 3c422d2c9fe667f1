import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from gnnimpute.nn.inputs import GeneInput, ProjectedInput
from gnnimpute.nn.model import GNNImputeModel
from gnnimpute.training.config import resolve_device
from gnnimpute.training.entries import ObservedEntries
from gnnimpute.training.loss import GeneBatchLoss

CPU = torch.device("cpu")


def _target(seed=0, shape=(30, 40)):
    rng = np.random.default_rng(seed)
    x = rng.poisson(0.7, shape).astype(np.float32) * rng.gamma(2, 5, shape[1]).astype(np.float32)
    return sp.csr_matrix(x)


def test_validation_split_is_fixed_disjoint_and_complete():
    t = _target()
    e = ObservedEntries(t, 0.2, np.random.default_rng(1))
    assert np.intersect1d(e.val, e.train).size == 0
    assert e.val.size + e.train.size == t.nnz
    assert abs(e.val.size - 0.2 * t.nnz) <= 1
    np.testing.assert_array_equal(t.toarray()[e.rows, e.cols], e.values)
    again = ObservedEntries(t, 0.2, np.random.default_rng(1))
    np.testing.assert_array_equal(e.val, again.val)
    batch = e.sample_train(0.1, np.random.default_rng(2))
    assert np.isin(batch, e.train).all() and np.intersect1d(batch, e.val).size == 0


def test_val_seed_changes_the_split_alone():
    """A validation seed draws another split of the same size; the generator the run goes on
    with (gene batches, each epoch's draw) is left exactly where the default split leaves it."""
    t = _target()
    rng_default, rng_other = np.random.default_rng(1), np.random.default_rng(1)
    default = ObservedEntries(t, 0.2, rng_default)
    other = ObservedEntries(t, 0.2, rng_other, val_seed=5)
    assert other.val.size == default.val.size and not np.array_equal(other.val, default.val)
    assert np.intersect1d(other.val, other.train).size == 0
    assert other.val.size + other.train.size == t.nnz
    assert rng_default.integers(1 << 30) == rng_other.integers(1 << 30)  # same state after
    again = ObservedEntries(t, 0.2, np.random.default_rng(9), val_seed=5)
    np.testing.assert_array_equal(other.val, again.val)  # the split depends on val_seed alone


def _model_and_h(n_genes):
    torch.manual_seed(0)
    model = GNNImputeModel(4, n_genes, hidden=(8, 3)).eval()
    h = torch.randn(30, 8)
    return model, h


def test_full_gene_batch_is_the_exact_mse():
    t = _target()
    e = ObservedEntries(t, 0.1, np.random.default_rng(0))
    model, h = _model_and_h(t.shape[1])
    loss = GeneBatchLoss(e, t, batch_size=1000, device=CPU)
    genes, weights = loss.sample_genes(np.random.default_rng(0))
    assert genes.size == t.shape[1] and np.all(weights == 1)
    idx = e.train[:50]
    with torch.no_grad():
        full = model.decode_all(h).numpy()
        expected = np.mean((full[e.rows[idx], e.cols[idx]] - e.values[idx]) ** 2)
        got = float(loss(model, h, idx, genes, weights))
    assert np.isclose(got, expected, rtol=1e-5)


def test_stratified_gene_batch_is_unbiased():
    t = _target(shape=(30, 60))
    e = ObservedEntries(t, 0.1, np.random.default_rng(0))
    model, h = _model_and_h(t.shape[1])
    exact = GeneBatchLoss(e, t, batch_size=1000, device=CPU)
    sampled = GeneBatchLoss(e, t, batch_size=16, device=CPU)
    assert sampled.fixed.size == 4  # a quarter of the batch is always the heaviest genes
    idx = e.train
    rng = np.random.default_rng(3)
    with torch.no_grad():
        truth = float(exact(model, h, idx, *exact.sample_genes(rng)))
        estimates = [float(sampled(model, h, idx, *sampled.sample_genes(rng))) for _ in range(400)]
    assert abs(np.mean(estimates) - truth) < 0.05 * truth


def test_zero_weight_adds_the_zero_entries():
    t = _target()
    e = ObservedEntries(t, 0.1, np.random.default_rng(0))
    model, h = _model_and_h(t.shape[1])
    plain = GeneBatchLoss(e, t, batch_size=1000, device=CPU)
    weighted = GeneBatchLoss(e, t, batch_size=1000, device=CPU, zero_weight=2.0, mask_rate=0.5)
    genes, weights = plain.sample_genes(np.random.default_rng(0))
    idx = e.train[:50]
    with torch.no_grad():
        full = model.decode_all(h).numpy()
        zeros = np.sum(full[t.toarray() == 0] ** 2)
        diff = float(weighted(model, h, idx, genes, weights)) - float(
            plain(model, h, idx, genes, weights)
        )
    assert np.isclose(diff, 2.0 * 0.5 * zeros / idx.size, rtol=1e-4)


def test_gene_input_hides_only_the_given_entries():
    log_norm = sp.csr_matrix(np.arange(1, 13, dtype=np.float32).reshape(3, 4))
    inputs = GeneInput(log_norm, np.array([1, 3]), CPU)
    x = inputs.hidden(np.array([0, 2, 1]), np.array([1, 3, 0]), np.zeros(3))
    np.testing.assert_array_equal(x.numpy(), [[0, 4], [6, 8], [10, 0]])
    np.testing.assert_array_equal(inputs.full().numpy(), [[2, 4], [6, 8], [10, 12]])  # unchanged


def test_projected_input_hiding_equals_projecting_the_hidden_matrix():
    rng = np.random.default_rng(0)
    dense = rng.poisson(1, (10, 6)).astype(np.float32)
    log_norm = sp.csr_matrix(np.log1p(dense))
    loadings = rng.normal(size=(6, 3)).astype(np.float32)
    inputs = ProjectedInput(log_norm, loadings, CPU)
    rows, cols = np.nonzero(dense)
    pick = rng.choice(rows.size, 5, replace=False)
    hidden_dense = np.log1p(dense)
    hidden_dense[rows[pick], cols[pick]] = 0
    expected = hidden_dense @ loadings - np.log1p(dense).mean(axis=0) @ loadings
    got = inputs.hidden(rows[pick], cols[pick], np.log1p(dense[rows[pick], cols[pick]]))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4, atol=1e-4)


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        try:
            resolve_device("cuda")
        except RuntimeError as exc:
            assert "no CUDA device" in str(exc)
        else:
            raise AssertionError("cuda without a device must fail")


def test_weight_average_is_an_exponential_moving_average():
    from gnnimpute.training.stopping import WeightAverage

    torch.manual_seed(0)
    model = GNNImputeModel(6, 4, hidden=(5, 3), heads=2)
    start = [p.detach().clone() for p in model.parameters()]
    ema = WeightAverage(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    for mine, old in zip(ema.model.parameters(), start, strict=True):
        torch.testing.assert_close(mine, old + 0.1)  # 0.9 * old + 0.1 * (old + 1)
    assert not ema.model.training  # scored in eval mode: no dropout, running BatchNorm stats
    assert all(not p.requires_grad for p in ema.model.parameters())


def _small_model_and_graph(target):
    torch.manual_seed(0)
    log_norm = target.copy()
    log_norm.data = np.log1p(log_norm.data)
    inputs = GeneInput(log_norm, np.arange(target.shape[1]), CPU)
    n = target.shape[0]
    src = np.concatenate([np.arange(n), np.arange(n)])
    dst = np.concatenate([np.arange(n), (np.arange(n) + 1) % n])
    edge_index = torch.as_tensor(np.stack([src, dst]))
    model = GNNImputeModel(inputs.n_features, target.shape[1], hidden=(8, 4), heads=2).eval()
    return model, inputs, edge_index


def predict(model, inputs, edge_index, **draws):
    """Every cell's level and the embedding, as the API's writers get them (`encode_draws`, then
    `decode_layers` over all cells)."""
    from gnnimpute.output.predict import decode_layers, encode_draws

    zs, embedding = encode_draws(model, inputs, edge_index, **draws)
    return decode_layers(model, zs, slice(0, embedding.shape[0]))[0], embedding


def test_predict_on_the_complete_input_is_one_forward_pass():
    target = _target()
    model, inputs, edge_index = _small_model_and_graph(target)
    out, z = predict(model, inputs, edge_index)
    with torch.no_grad():
        dense, z_ref = model(inputs.full(), edge_index)
    np.testing.assert_allclose(out, dense.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(z, z_ref.numpy(), rtol=1e-5, atol=1e-5)


def test_predict_with_hiding_averages_inputs_that_hide_observed_entries():
    target = _target()
    model, inputs, edge_index = _small_model_and_graph(target)
    # hide_rate 1: every draw hides every observed entry, i.e. an all-zero input
    out, _ = predict(model, inputs, edge_index, observed=target, hide_rate=1.0, draws=3)
    with torch.no_grad():
        dense, _ = model(torch.zeros_like(inputs.full()), edge_index)
    np.testing.assert_allclose(out, dense.numpy(), rtol=1e-5, atol=1e-5)
    # a partial share: reproducible for a seed, and not the complete-input prediction
    a, _ = predict(model, inputs, edge_index, observed=target, hide_rate=0.3, draws=4, seed=1)
    b, _ = predict(model, inputs, edge_index, observed=target, hide_rate=0.3, draws=4, seed=1)
    full, _ = predict(model, inputs, edge_index)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, full)


def _graph_for(n):
    from gnnimpute.graph.knn import knn_edge_index

    nbrs = np.stack([(np.arange(n) + 1) % n, (np.arange(n) - 1) % n], axis=1)
    return torch.as_tensor(knn_edge_index(nbrs))


def test_early_stopping_restores_weights_validated_in_eval_mode():
    """The restored weights, in eval mode, reproduce the best validation loss recorded."""
    from gnnimpute.training import fit
    from gnnimpute.training.config import TrainConfig

    t = _target(shape=(40, 30))
    log_norm = t.copy()
    log_norm.data = np.log1p(log_norm.data)
    inputs = GeneInput(log_norm, np.arange(30), CPU)
    ei = _graph_for(40)
    torch.manual_seed(0)
    model = GNNImputeModel(30, 30, hidden=(16, 4), dropout=0.5)
    cfg = TrainConfig(epochs=30, patience=5, min_epochs=1, lr=1e-2, progress=False,
                      detection_weight=0.0)  # fmt: skip
    result = fit(model, inputs, ei, t, cfg, seed=3)
    best = min(result.history["val_loss"])
    assert result.history["val_loss"][result.best_epoch - 1] == best
    # An independent computation: the held-out entries (the first draw of the seed's generator)
    # hidden from the input, the dense output in eval mode, the MSE at those entries.
    e = ObservedEntries(t, cfg.val_rate, np.random.default_rng(3))
    x = inputs.hidden(e.rows[e.val], e.cols[e.val], np.log1p(e.values[e.val]))
    assert np.isclose(result.validate(model), best, rtol=1e-6) and model.training
    model.eval()
    with torch.no_grad():
        out = model(x, ei)[0].numpy()
        assert np.isclose(
            np.mean((out[e.rows[e.val], e.cols[e.val]] - e.values[e.val]) ** 2), best, rtol=1e-5
        )
        model.train()  # with dropout on (and batch statistics), the same weights score differently
        train_mode = model(x, ei)[0].numpy()
    assert not np.isclose(
        np.mean((train_mode[e.rows[e.val], e.cols[e.val]] - e.values[e.val]) ** 2), best, rtol=1e-3
    )


def test_detection_loss_is_minimized_at_the_detection_share():
    """Zeros weighted by the hiding rate: a constant logit is best at the share detected."""
    from gnnimpute.training.losses import detection_bce

    n_cells, rate = 50, 0.1
    zeros = torch.zeros(n_cells, 1)
    zeros[:30] = 1.0  # 20 of 50 detected; 2 of the 20 hidden this step
    rows, cols = torch.tensor([30, 31]), torch.tensor([0, 0])
    ones = torch.ones(2)
    grid = torch.linspace(-3, 3, 601)
    losses = [
        float(detection_bce(torch.full((n_cells, 1), float(g)), zeros, rows, cols, ones,
                            torch.ones(1), rate))
        for g in grid
    ]  # fmt: skip
    p_best = float(torch.sigmoid(grid[int(np.argmin(losses))]))
    assert abs(p_best - 0.4) < 0.01  # 20 / 50
    # hand-computed value at logit 0: (0.1 x 30 x log 2 + 2 x log 2) / (0.1 x 50)
    got = float(
        detection_bce(torch.zeros(n_cells, 1), zeros, rows, cols, ones, torch.ones(1), rate)
    )
    assert np.isclose(got, 5 * np.log(2) / 5, rtol=1e-6)


@pytest.mark.parametrize("repeated", [False, True])
def test_detection_loss_values_and_gradients_match_autograds(repeated):
    """The hand-written forward and backward equal autograd's on the plain formula (float64
    gradcheck too); entries given twice count twice, as the plain gather's would."""
    from gnnimpute.training.losses import detection_bce

    gen = torch.Generator().manual_seed(0)
    n_cells, n_genes, rate = 40, 7, 0.15
    logits = torch.randn(n_cells, n_genes, generator=gen, dtype=torch.float64) * 3
    zeros = (torch.rand(n_cells, n_genes, generator=gen) < 0.7).double()
    rows, cols = torch.nonzero(zeros == 0, as_tuple=True)
    rows, cols = rows[::3], cols[::3]
    if repeated:
        rows, cols = torch.cat([rows, rows[:4]]), torch.cat([cols, cols[:4]])
    entry_w = torch.rand(rows.numel(), generator=gen, dtype=torch.float64) + 0.5
    gene_w = torch.rand(n_genes, generator=gen, dtype=torch.float64) + 0.5

    def plain(x):
        negative = rate * torch.sum(gene_w * zeros * F.softplus(x))
        positive = torch.sum(entry_w * F.softplus(-x[rows, cols]))
        return (negative + positive) / (rate * n_cells * float(gene_w.sum()))

    def fused(x):
        return detection_bce(x, zeros, rows, cols, entry_w, gene_w, rate)

    a, b = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    fused(a).backward()
    plain(b).backward()
    torch.testing.assert_close(fused(logits), plain(logits), rtol=1e-12, atol=0)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-15)
    assert torch.autograd.gradcheck(fused, (logits.clone().requires_grad_(),))


def test_hurdle_loss_adds_the_scaled_detection_term():
    from gnnimpute.training.losses import level_scale

    t = _target()
    e = ObservedEntries(t, 0.1, np.random.default_rng(0))
    torch.manual_seed(0)
    model = GNNImputeModel(4, t.shape[1], hidden=(8, 3), detection=True).eval()
    h = torch.randn(30, 8)
    plain = GeneBatchLoss(e, t, batch_size=1000, device=CPU)
    hurdle = GeneBatchLoss(e, t, batch_size=1000, device=CPU, detection_weight=0.5)
    values = t.toarray()
    nz = values[values > 0]
    cols = np.nonzero(values)[1]
    means = np.bincount(cols, weights=nz) / np.bincount(cols)
    assert np.isclose(
        level_scale(e.cols, e.values, t.shape[1]), np.mean((e.values - means[e.cols]) ** 2)
    )
    assert np.isclose(hurdle.detection_coef, 0.5 * level_scale(e.cols, e.values, t.shape[1]))
    genes, weights = plain.sample_genes(np.random.default_rng(0))
    idx = e.train[:50]
    with torch.no_grad():
        diff = float(hurdle(model, h, idx, genes, weights)) - float(
            plain(model, h, idx, genes, weights)
        )
        p = model.detect_all(h).numpy().astype(np.float64)
    rate = idx.size / e.rows.size
    bce = rate * -np.log(1 - p)[values == 0].sum() - np.log(p[e.rows[idx], e.cols[idx]]).sum()
    assert np.isclose(diff, hurdle.detection_coef * bce / (rate * values.size), rtol=1e-4)


def test_sorted_entries_give_the_same_bytes_as_scipys_route():
    """The epoch's hidden input is laid out from (row, column)-sorted entries without scipy's
    sort; the product must be the very bytes the COO route gave (a seed's results depend on it)."""
    from gnnimpute.nn.inputs import entries_csr

    rng = np.random.default_rng(3)
    coo = sp.random(200, 300, density=0.1, format="coo", random_state=4, dtype=np.float32)
    coo.sum_duplicates()  # canonical (row, column) order
    loadings = rng.normal(size=(300, 20)).astype(np.float32)
    pick = np.sort(rng.choice(coo.nnz, 800, replace=False))
    rows, cols, vals = coo.row[pick], coo.col[pick], coo.data[pick]
    direct = entries_csr(rows, cols, vals, coo.shape)
    scipy_route = sp.csr_matrix((vals, (rows, cols)), shape=coo.shape)
    assert np.array_equal(direct @ loadings, scipy_route @ loadings)
    shuffled = rng.permutation(pick.size)  # unsorted entries take scipy's route
    again = entries_csr(rows[shuffled], cols[shuffled], vals[shuffled], coo.shape)
    assert np.array_equal(again @ loadings, scipy_route @ loadings)


def test_cpu_zero_pattern_has_the_sliced_blocks_values_in_the_logits_layout():
    """The CPU loss's zero pattern is scattered from CSC arrays instead of slicing scipy's matrix:
    the same values, row-major like the logits it multiplies (mixed layouts were slow)."""
    t = _target(seed=5, shape=(50, 40))
    e = ObservedEntries(t, 0.1, np.random.default_rng(0))
    loss = GeneBatchLoss(e, t, batch_size=12, device=CPU, detection_weight=1.0)
    genes, _ = loss.sample_genes(np.random.default_rng(1))
    sliced = 1.0 - torch.as_tensor(loss.observed[:, genes].toarray())
    scattered = loss._observed_zeros(torch.as_tensor(genes))
    assert torch.equal(scattered, sliced)
    assert scattered.stride() == (len(genes), 1)


def test_device_resident_pieces_match_the_host_path():
    """What a GPU's hot loop uses (device draw, hidden input, loss at tensor positions, the
    scattered zero pattern) gives what the host path gives, checked here with CPU tensors."""
    from gnnimpute.training.loss import scatter_zeros

    t = _target(seed=4, shape=(60, 50))
    t = sp.csr_matrix(t.toarray() * (np.arange(50) != 7))  # gene 7 has no non-zero at all
    e = ObservedEntries(t, 0.1, np.random.default_rng(0))
    dev = e.on_device(CPU)
    gen = torch.Generator().manual_seed(5)
    draw = dev.sample_train(0.3, gen)
    again = dev.sample_train(0.3, torch.Generator().manual_seed(5))
    assert torch.equal(draw, again)  # the seed fixes the draw
    assert bool((draw[1:] > draw[:-1]).all()) and np.isin(draw.numpy(), e.train).all()
    assert abs(draw.numel() / e.train.size - 0.3) < 0.05

    log_norm = t.copy()
    log_norm.data = np.log1p(log_norm.data)
    idx = draw.numpy()
    for inputs in (
        GeneInput(log_norm, np.arange(0, 50, 2), CPU),
        ProjectedInput(log_norm, np.random.default_rng(1).normal(size=(50, 6)), CPU),
    ):
        host = inputs.hidden(e.rows[idx], e.cols[idx], np.log1p(e.values[idx]))
        torch.testing.assert_close(dev.hidden_input(inputs, draw), host, rtol=1e-5, atol=1e-5)

    pattern = sp.csc_matrix(t != 0, dtype=np.float32)
    genes = torch.as_tensor([0, 7, 3, 49, 12])
    zeros = scatter_zeros(
        torch.as_tensor(pattern.indptr.astype(np.int64)), torch.as_tensor(pattern.indices),
        genes, 60,
    )  # fmt: skip
    np.testing.assert_array_equal(zeros.numpy(), 1 - pattern[:, genes.numpy()].toarray())
    assert zeros[:, 1].eq(1).all()  # the empty gene is zero everywhere

    loss = GeneBatchLoss(e, t, batch_size=20, device=CPU, detection_weight=1.0)
    model = GNNImputeModel(6, 50, hidden=(8, 4), detection=True).eval()
    h = model.decode_hidden(torch.randn(60, 4))
    g, w = loss.sample_genes(np.random.default_rng(2))
    torch.testing.assert_close(loss(model, h, draw, g, w), loss(model, h, idx, g, w))


class _Quiet:
    def set_postfix(self, **_):
        pass

    def update(self, *_):
        pass


def _stopping_run(losses, **config):
    """Feed `losses` to EarlyStopping; the epoch it stops at and the weights it kept."""
    from gnnimpute.training.config import TrainConfig, TrainResult
    from gnnimpute.training.stopping import EarlyStopping

    stopper = EarlyStopping(TrainConfig(min_epochs=1, **config), TrainResult(), _Quiet(), _Quiet())
    scored = torch.nn.Linear(1, 1, bias=False)
    for epoch, loss in enumerate(losses, start=1):
        scored.weight.data.fill_(epoch)  # weights that say which epoch they come from
        if stopper.update(epoch, loss, loss, scored):
            break
    return epoch, stopper.result.best_epoch, float(stopper.best_state["weight"])


def test_min_delta_restarts_patience_only_on_a_relative_gain_but_keeps_the_best_weights():
    slow = [100.0, 95.0, 92.0, 91.0, 90.5, 90.2, 80.0]  # strictly better every epoch
    # without min_delta every epoch is an improvement: no stop
    assert _stopping_run(slow, patience=3, min_delta=0.0) == (7, 7, 7.0)
    # 10 %: 95, 92 and 91 are not 10 % under 100, so patience runs out at epoch 4; the weights
    # kept are epoch 4's, the best scored, not epoch 1's
    assert _stopping_run(slow, patience=3, min_delta=0.1) == (4, 4, 4.0)
    # a real gain restarts patience, measured from the loss at that gain (89 then needs < 80.1)
    assert _stopping_run([100.0, 89.0, 85.0, 81.0, 80.5, 70.0], patience=3, min_delta=0.1) == (
        5, 5, 5.0)  # fmt: skip


def test_epoch_draw_is_bernoulli_per_entry_sorted_and_seeded():
    """The geometric-gap draw picks each training entry independently with the given rate."""
    t = sp.random(400, 300, density=0.2, format="csr", random_state=0, dtype=np.float32)
    e = ObservedEntries(t, 0.1, np.random.default_rng(0))
    rng = np.random.default_rng(3)
    hits = np.zeros(t.nnz)
    sizes = []
    for _ in range(200):
        batch = e.sample_train(0.1, rng)
        assert np.all(np.diff(batch) > 0)  # sorted, no repeats
        assert np.isin(batch, e.train).all()
        hits[batch] += 1
        sizes.append(batch.size)
    # each entry's share of draws ~ Binomial(200, 0.1) / 200; the draw size ~ Binomial(n, 0.1)
    share = hits[e.train] / 200
    assert abs(share.mean() - 0.1) < 0.003
    assert 0.015 < share.std() < 0.027  # sqrt(0.1 * 0.9 / 200) = 0.021
    assert abs(np.mean(sizes) / e.train.size - 0.1) < 0.003
    assert (hits[e.train] == 0).mean() < 0.001  # every position is reachable, the last included
    np.testing.assert_array_equal(
        e.sample_train(0.1, np.random.default_rng(9)), e.sample_train(0.1, np.random.default_rng(9))
    )
    tiny = ObservedEntries(
        sp.csr_matrix(np.eye(3, dtype=np.float32)), 0.34, np.random.default_rng(0)
    )
    assert tiny.sample_train(1e-9, np.random.default_rng(0)).size == 1  # at least one
    np.testing.assert_array_equal(tiny.sample_train(1.0, np.random.default_rng(0)), tiny.train)


def test_hiding_on_top_of_a_base_input_hides_both_sets():
    """Training hides its draw on top of validation's input: the same as hiding the union."""
    t = _target(seed=5, shape=(40, 30))
    e = ObservedEntries(t, 0.2, np.random.default_rng(0))
    log_norm = t.copy()
    log_norm.data = np.log1p(log_norm.data)
    batch = e.sample_train(0.3, np.random.default_rng(1))
    for inputs in (
        GeneInput(log_norm, np.arange(0, 30, 3), CPU),
        ProjectedInput(log_norm, np.random.default_rng(2).normal(size=(30, 5)), CPU),
    ):
        base = e.hidden_input(inputs, e.val)
        stacked = e.hidden_input(inputs, batch, base=base)
        union = e.hidden_input(inputs, np.concatenate([e.val, batch]))
        torch.testing.assert_close(stacked, union, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(stacked, base)  # the draw did hide something more
        on_device = e.on_device(CPU)
        device_stacked = on_device.hidden_input(
            inputs,
            torch.as_tensor(batch).long(),
            base=on_device.hidden_input(inputs, on_device.val),
        )
        torch.testing.assert_close(device_stacked, union, rtol=1e-5, atol=1e-5)


def test_csr_product_equals_scipys_and_repeats_its_bytes():
    from gnnimpute.nn.inputs import csr_product

    m = sp.random(50, 40, density=0.1, format="csr", random_state=1, dtype=np.float32)
    dense = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    got = csr_product(m, torch.as_tensor(dense)).numpy()
    # the same row sums as scipy's up to float32 rounding (the kernel may fuse multiply-adds
    # on some processors), and the same bytes on every call
    np.testing.assert_allclose(got, m @ dense, rtol=1e-5, atol=1e-6)
    assert np.array_equal(got, csr_product(m, torch.as_tensor(dense)).numpy())
    assert not np.allclose(got, (m @ dense) + 1e-3)  # the tolerance is tight enough to fail
    empty = sp.csr_matrix((50, 40), dtype=np.float32)
    assert np.all(csr_product(empty, torch.as_tensor(dense)).numpy() == 0)


def test_decoding_in_cache_sized_blocks_changes_nothing(monkeypatch):
    import gnnimpute.output.predict as predict_module

    torch.manual_seed(0)
    model = GNNImputeModel(4, 12, hidden=(8, 3), detection=True).eval()
    zs = [torch.randn(23, 3) for _ in range(3)]
    whole_level, whole_prob = predict_module.decode_layers(model, zs, slice(2, 21))
    monkeypatch.setattr(predict_module, "DECODE_ROWS", 4)
    level, prob = predict_module.decode_layers(model, zs, slice(2, 21))
    assert level.shape == prob.shape == (19, 12)
    torch.testing.assert_close(torch.as_tensor(level), torch.as_tensor(whole_level))
    torch.testing.assert_close(torch.as_tensor(prob), torch.as_tensor(whole_prob))
    with torch.no_grad():  # the mean over draws of each cell's output
        h = [model.decode_hidden(z[2:21]) for z in zs]
        expected = sum(model.decode_all(x) for x in h) / 3
        expected_prob = sum(model.detect_all(x) for x in h) / 3
    torch.testing.assert_close(torch.as_tensor(level), expected)
    torch.testing.assert_close(torch.as_tensor(prob), expected_prob)


def test_pinned_validation_batch_gives_the_unpinned_loss():
    """Validation pins where its entries fall in its gene batch: the loss is the same, and a
    restricted loss has caches of its own (a parent's pin, tensors or zeros are never served)."""
    from gnnimpute.training.loss import cells_view

    t = _target(seed=6, shape=(40, 30))
    e = ObservedEntries(t, 0.2, np.random.default_rng(0))
    loss = GeneBatchLoss(e, t, batch_size=12, device=CPU, detection_weight=1.0)
    genes, weights = loss.sample_genes(np.random.default_rng(1))
    model = GNNImputeModel(4, 30, hidden=(8, 3), detection=True).eval()
    h = model.decode_hidden(torch.randn(40, 3))
    idx = torch.as_tensor(e.val)
    with torch.no_grad():
        plain = float(loss(model, h, idx, genes, weights))
        batch = loss.pin(idx, genes, weights)
        assert float(loss.score(model, h, batch)) == plain
        assert float(loss.score(model, h, batch)) == plain  # scored again: the same
    first = torch.arange(10)
    pattern = sp.csr_matrix(t != 0, dtype=np.float32)
    with torch.no_grad():
        loss.pin_zeros(genes)
        loss(model, h, first, genes, weights)  # the parent's device tensors are built now
        fresh = GeneBatchLoss(e, t, batch_size=12, device=CPU, detection_weight=1.0)
        view = cells_view(loss, e, e.val[:25], np.arange(40), 40, pattern=pattern, share=0.2)
        unused = cells_view(fresh, e, e.val[:25], np.arange(40), 40, pattern=pattern, share=0.2)
        assert view._entry_tensors is None and view._pinned_zeros is None
        got = float(view(model, h, first, genes, weights))
        assert got == float(unused(model, h, first, genes, weights))
        assert got != float(loss(model, h, first, genes, weights))
        assert view.entries is not loss.entries and loss.entries is e  # the parent is unchanged
