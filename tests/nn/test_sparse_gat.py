"""The sparse-product GAT layer must be GATConv, minus the per-edge feature tensors."""

import numpy as np
import pytest
import torch
from shared_helpers import imports_module
from torch_geometric.nn import GATConv

from gnnimpute.graph.knn import knn_edge_index
from gnnimpute.nn.sparse_gat import SparseGATConv


def _graph(n: int, k: int = 4, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    neighbors = np.stack(
        [rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)]
    )
    return torch.as_tensor(knn_edge_index(neighbors))


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("n_in, n_out", [(7, 5), (4, 9)])  # transform first; aggregate first
def test_sparse_gat_matches_gatconv_values_and_gradients(shuffle, n_in, n_out):
    torch.manual_seed(0)
    n, edge_index = 60, _graph(60)
    if shuffle:  # edge order must not matter
        edge_index = edge_index[:, torch.randperm(edge_index.shape[1])]
    ref = GATConv(n_in, n_out, heads=3, concat=False, add_self_loops=False)
    new = SparseGATConv(n_in, n_out, heads=3, concat=False, add_self_loops=False)
    new.load_state_dict(ref.state_dict())
    outs = []
    for layer in (ref, new):
        x = torch.randn(n, n_in, generator=torch.Generator().manual_seed(1), requires_grad=True)
        out = layer(x, edge_index)
        (out**2).sum().backward()
        outs.append((out.detach(), x.grad, layer.lin.weight.grad, layer.att_src.grad))
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert outs[0][0].shape == (n, n_out)


def test_sparse_gat_rejects_unsupported_configuration():
    with pytest.raises(ValueError, match="concat=False"):
        SparseGATConv(4, 2, heads=2, concat=True, add_self_loops=False)


def test_sparse_gat_initialises_like_gatconv_without_importing_pyg():
    """Same draws in the same order: a seed gives PyG's weights, and the generator ends in the
    same state, so every later draw (dropout, sampling) is unchanged too."""
    for bias in (True, False):
        torch.manual_seed(3)
        ref = GATConv(9, 4, heads=3, concat=False, add_self_loops=False, dropout=0.2, bias=bias)
        after_ref = torch.rand(3)
        torch.manual_seed(3)
        new = SparseGATConv(9, 4, heads=3, concat=False, add_self_loops=False, dropout=0.2,
                            bias=bias)  # fmt: skip
        after_new = torch.rand(3)
        assert list(new.state_dict()) == list(ref.state_dict())
        for key, value in ref.state_dict().items():
            torch.testing.assert_close(new.state_dict()[key], value, rtol=0, atol=0)
        torch.testing.assert_close(after_new, after_ref, rtol=0, atol=0)
    assert not imports_module("import gnnimpute.api", "torch_geometric")  # GAT never needs PyG


@pytest.mark.parametrize("n_in, n_out", [(16, 8), (8, 16)])
def test_sparse_gat_gradients_are_bit_identical_across_runs_with_threads(n_in, n_out):
    """Same seed, same output on the CPU with several threads: backward sums over edges must not
    follow thread order. Indexing (`a[src]`) accumulated its gradient that way (it differed in
    the 6th digit from run to run, and Baron stopped at 124, 240 or 305 epochs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch.manual_seed(0)
        n = 3000
        edge_index = _graph(n, k=15)
        layer = SparseGATConv(n_in, n_out, heads=3, concat=False, add_self_loops=False)
        x = torch.randn(n, n_in, generator=torch.Generator().manual_seed(1), requires_grad=True)
        grads = []
        for _ in range(6):
            layer.zero_grad()
            x.grad = None
            (layer(x, edge_index) ** 2).sum().backward()
            grads.append(torch.cat([p.grad.flatten() for p in (*layer.parameters(), x)]))
    finally:
        torch.set_num_threads(threads)
    assert grads[0].abs().sum() > 0
    for other in grads[1:]:
        assert torch.equal(other, grads[0])
