"""The training loss: MSE at hidden entries on gene batches, the zero and detection terms, restriction and pinning."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from shared_helpers import random_target

from gnnimpute.nn.inputs import GeneInput, ProjectedInput
from gnnimpute.nn.model import GNNImputeModel
from gnnimpute.training.entries import ObservedEntries
from gnnimpute.training.loss import GeneBatchLoss

CPU = torch.device("cpu")


def _model_and_h(n_genes):
    torch.manual_seed(0)
    model = GNNImputeModel(4, n_genes, hidden=(8, 3)).eval()
    h = torch.randn(30, 8)
    return model, h


def test_full_gene_batch_is_the_exact_mse():
    t = random_target()
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
    t = random_target(shape=(30, 60))
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
    t = random_target()
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

    t = random_target()
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


def test_cpu_zero_pattern_has_the_sliced_blocks_values_in_the_logits_layout():
    """The CPU loss's zero pattern is scattered from CSC arrays instead of slicing scipy's matrix:
    the same values, row-major like the logits it multiplies (mixed layouts were slow)."""
    t = random_target(seed=5, shape=(50, 40))
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

    t = random_target(seed=4, shape=(60, 50))
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


def test_pinned_validation_batch_gives_the_unpinned_loss():
    """Validation pins where its entries fall in its gene batch: the loss is the same, and a
    restricted loss has caches of its own (a parent's pin, tensors or zeros are never served)."""
    from gnnimpute.training.loss import cells_view

    t = random_target(seed=6, shape=(40, 30))
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
