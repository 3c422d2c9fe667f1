"""The sampled product: the dense product's entries and gradients, without the dense block."""

import numpy as np
import pytest
import torch

from gnnimpute.nn.model import GNNImputeModel
from gnnimpute.nn.sampled_product import entry_dot


def _dense_reference(a, b, rows, cols):
    return (a @ b.T)[rows, cols]


@pytest.mark.parametrize("order", ["csr", "shuffled", "repeated"])
def test_entry_dot_equals_the_dense_products_entries_and_gradients(order):
    torch.manual_seed(0)
    a = torch.randn(40, 16, dtype=torch.float64, requires_grad=True)
    b = torch.randn(25, 16, dtype=torch.float64, requires_grad=True)
    rng = np.random.default_rng(1)
    flat = np.sort(rng.choice(40 * 25, size=120, replace=False))
    if order == "shuffled":
        flat = rng.permutation(flat)
    if order == "repeated":  # the same entry twice: scored twice, gradient counted twice
        flat = np.concatenate([flat, flat[:10]])
    rows, cols = torch.as_tensor(flat // 25), torch.as_tensor(flat % 25)
    weights = torch.randn(flat.size, dtype=torch.float64)

    got = entry_dot(a, b, rows, cols)
    torch.sum(weights * got**2).backward()
    grads = a.grad.clone(), b.grad.clone()
    a.grad = b.grad = None
    expected = _dense_reference(a, b, rows, cols)
    torch.sum(weights * expected**2).backward()

    assert got.shape == (flat.size,)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(grads[0], a.grad)
    torch.testing.assert_close(grads[1], b.grad)


def test_entry_dot_with_no_entries_gives_zero_gradients():
    a = torch.randn(5, 3, requires_grad=True)
    b = torch.randn(4, 3, requires_grad=True)
    empty = torch.zeros(0, dtype=torch.long)
    out = entry_dot(a, b, empty, empty)
    assert out.shape == (0,)
    out.sum().backward()
    assert float(a.grad.abs().sum()) == 0.0 and float(b.grad.abs().sum()) == 0.0


def test_decode_entries_is_the_dense_decoders_entries():
    torch.manual_seed(0)
    model = GNNImputeModel(4, 30, hidden=(8, 3))
    model.gene_scale.uniform_(0.5, 3.0)  # the per-gene scale must reach the right entry
    h = torch.randn(12, 8)
    genes = torch.tensor([1, 4, 5, 9, 17, 29])
    rows = torch.tensor([0, 0, 3, 7, 7, 7, 11])
    cols = torch.tensor([1, 5, 0, 2, 3, 4, 5])
    dense = model.decode_genes(h, genes)[rows, cols]
    torch.testing.assert_close(model.decode_entries(h, genes, rows, cols), dense)


def test_decode_entries_gradients_are_bit_identical_across_runs_with_threads():
    """Same seed, same bytes with 2 threads: the gene bias is read once per hidden entry, so its
    gradient sums many repeats of each gene. Plain indexing summed them in thread order (Baron's
    validation loss differed in the 4th digit from run to run by epoch 3)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        gen = torch.Generator().manual_seed(0)
        model = GNNImputeModel(4, 2000, hidden=(16, 3))
        h = torch.randn(600, 16, generator=gen)
        genes = torch.arange(0, 2000, 2)
        n = 200_000  # far above torch's grain size, so the backward runs on both threads
        key = torch.unique(torch.randint(0, 600 * genes.numel(), (n,), generator=gen))
        rows, cols = key // genes.numel(), key % genes.numel()
        target = torch.randn(rows.numel(), generator=gen)
        grads = []
        for _ in range(8):
            model.zero_grad()
            ((model.decode_entries(h, genes, rows, cols) - target) ** 2).sum().backward()
            grads.append(model.out.bias.grad.to_dense().clone())
    finally:
        torch.set_num_threads(threads)
    assert grads[0].abs().sum() > 0
    for other in grads[1:]:
        assert torch.equal(other, grads[0])
