"""The sparse-product GAT layer must be GATConv, minus the per-edge feature tensors."""

import numpy as np
import pytest
import torch
from torch_geometric.nn import GATConv

from gnnimpute.graph import knn_edge_index
from gnnimpute.sparse_gat import SparseGATConv


def _graph(n: int, k: int = 4, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    neighbors = np.stack(
        [rng.choice(np.delete(np.arange(n), i), k, replace=False) for i in range(n)]
    )
    return torch.as_tensor(knn_edge_index(neighbors))


@pytest.mark.parametrize("shuffle", [False, True])
def test_sparse_gat_matches_gatconv_values_and_gradients(shuffle):
    torch.manual_seed(0)
    n, edge_index = 60, _graph(60)
    if shuffle:  # edge order must not matter
        edge_index = edge_index[:, torch.randperm(edge_index.shape[1])]
    ref = GATConv(7, 5, heads=3, concat=False, add_self_loops=False)
    new = SparseGATConv(7, 5, heads=3, concat=False, add_self_loops=False)
    new.load_state_dict(ref.state_dict())
    outs = []
    for layer in (ref, new):
        x = torch.randn(n, 7, generator=torch.Generator().manual_seed(1), requires_grad=True)
        out = layer(x, edge_index)
        (out**2).sum().backward()
        outs.append((out.detach(), x.grad, layer.lin.weight.grad, layer.att_src.grad))
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert outs[0][0].shape == (n, 5)


def test_sparse_gat_rejects_unsupported_configuration():
    with pytest.raises(ValueError, match="concat=False"):
        SparseGATConv(4, 2, heads=2, concat=True, add_self_loops=False)
