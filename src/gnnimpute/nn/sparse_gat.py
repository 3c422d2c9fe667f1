"""A graph-attention layer whose aggregation never materializes per-edge feature tensors.

PyG's `GATConv` gathers the source features of every edge and multiplies them by the attention
weight (edges x heads x channels), then its backward pass allocates two more tensors of that
size. At 100k cells with 5 neighbours that is ~10 GB per epoch, and the broadcast product alone
took half of all training time. Here each head's aggregation is a sparse (cells x cells) matrix
product with the attention weights as values, and the gradient of the weights is a sampled
dense product at the edges (`torch.sparse.sampled_addmm`): memory is edges x heads plus
cells x heads x channels, and the same code runs on CPU and CUDA.

The layer has `GATConv`'s parameters, state dict and initialisation (the same draws in the same
order), so a seed gives the same model as with PyG; it does not import PyG, whose import costs
~2.5 s of CPU (it pulls in torch._dynamo) on every run.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .sampled_product import EntryPattern


class EdgeStructure(EntryPattern):
    """Edges as the CSR of A (A[dst, src], sorted by target) and of A transposed."""

    def __init__(self, edge_index: torch.Tensor, n_nodes: int):
        super().__init__(edge_index[1], edge_index[0], (n_nodes, n_nodes))
        self.src, self.dst = self.col, self.rows  # in CSR order


class _Aggregate(torch.autograd.Function):
    """out[h, i] = sum over edges (j -> i) of alpha[h, e] * x[h, j], one sparse product per head.

    Heads come first (heads x edges, heads x cells x channels) so every per-head slice is
    contiguous and no copies are made. A 2-D `x` (cells x channels) is shared by every head.
    """

    @staticmethod
    def forward(ctx, alpha: torch.Tensor, x: torch.Tensor, edges: EdgeStructure) -> torch.Tensor:
        ctx.save_for_backward(alpha, x)
        ctx.edges = edges
        heads = alpha.shape[0]
        out = x.new_empty(heads, *x.shape[-2:])
        for h in range(heads):  # written in place: no stacked copy
            torch.mm(edges.matrix(alpha[h]), _head(x, h), out=out[h])
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        alpha, x = ctx.saved_tensors
        edges = ctx.edges
        grad = grad.contiguous()
        heads = alpha.shape[0]
        grad_alpha = grad_x = None
        if ctx.needs_input_grad[1]:
            parts = [edges.matrix_t(alpha[h]) @ grad[h] for h in range(heads)]
            if x.dim() == 2:  # shared by the heads: their gradients add up, in head order
                grad_x = parts[0]
                for part in parts[1:]:
                    grad_x += part
            else:
                grad_x = torch.stack(parts)
        if ctx.needs_input_grad[0]:
            pattern = edges.matrix(alpha.new_ones(alpha.shape[1]))
            grad_alpha = torch.stack(
                [
                    torch.sparse.sampled_addmm(pattern, grad[h], _head(x, h).T, beta=0.0).values()
                    for h in range(heads)
                ]
            )
        return grad_alpha, grad_x, None


def _head(x: torch.Tensor, h: int) -> torch.Tensor:
    return x if x.dim() == 2 else x[h]


_LAST: dict = {}  # the last graph's EdgeStructure, keyed by the edge_index tensor's identity


class SparseGATConv(nn.Module):
    """PyG's `GATConv` (same parameters, state dict and initialisation) for one node set, heads
    averaged, no self-loops.

    Only the configuration the model uses is supported: `concat=False`, `add_self_loops=False`,
    no edge features. The forward pass equals `GATConv`'s up to float rounding.
    """

    def __init__(self, in_channels: int, out_channels: int, heads: int = 1, *,
                 concat: bool = True, add_self_loops: bool = True, dropout: float = 0.0,
                 negative_slope: float = 0.2, bias: bool = True):  # fmt: skip
        if concat or add_self_loops:
            raise ValueError("SparseGATConv supports concat=False, add_self_loops=False only")
        super().__init__()
        self.in_channels, self.out_channels, self.heads = in_channels, out_channels, heads
        self.dropout, self.negative_slope = dropout, negative_slope
        self.concat = self.add_self_loops = False  # GATConv's attributes, for code that reads them
        self.lin = _GlorotLinear(in_channels, heads * out_channels)
        self.att_src = nn.Parameter(torch.empty(1, heads, out_channels))
        self.att_dst = nn.Parameter(torch.empty(1, heads, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin.reset_parameters()
        _glorot(self.att_src)
        _glorot(self.att_dst)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @staticmethod
    def _edges(edge_index: torch.Tensor, n_nodes: int) -> EdgeStructure:
        """One structure per graph, shared by every layer (both layers see the same edges)."""
        cached = _LAST.get("edges")
        if cached is None or cached[0] is not edge_index or cached[1].shape[0] != n_nodes:
            _LAST["edges"] = (edge_index, EdgeStructure(edge_index, n_nodes))
        return _LAST["edges"][1]

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        heads, channels = self.heads, self.out_channels
        edges = self._edges(edge_index, x.shape[0])
        weight = self.lin.weight.view(heads, channels, -1)  # head h's rows of W, as GATConv's
        # attention scores <W_h x, a_h> = <x, W_h^T a_h>: no cells x heads x channels product
        a_src = x @ torch.einsum("hci,hc->ih", weight, self.att_src[0])
        a_dst = x @ torch.einsum("hci,hc->ih", weight, self.att_dst[0])
        # index_select, not a_src[edges.src]: the indexing's backward accumulates repeated
        # indices in thread order on the CPU, so the same seed gave different outputs
        gathered = a_src.index_select(0, edges.src) + a_dst.index_select(0, edges.dst)
        alpha = F.leaky_relu(gathered, self.negative_slope)
        alpha = _edge_softmax(alpha, edges.dst, x.shape[0])
        alpha = F.dropout(alpha, p=self.dropout, training=self.training).T.contiguous()
        if self.in_channels < channels:
            # sum_j alpha_ij W_h x_j = W_h (sum_j alpha_ij x_j): averaging the narrower inputs
            # costs in/out of the sparse products (100 vs 256 columns in the first layer)
            mixed = _Aggregate.apply(alpha, x, edges)
            out = mixed[0] @ weight[0].T
            for h in range(1, heads):
                out = torch.addmm(out, mixed[h], weight[h].T)
            out = out / heads
        else:
            h = torch.matmul(x, weight.transpose(1, 2))  # heads x cells x channels, contiguous
            out = _Aggregate.apply(alpha, h, edges).mean(dim=0)
        return out + self.bias if self.bias is not None else out


class _GlorotLinear(nn.Module):
    """PyG's `Linear(n_in, n_out, bias=False, weight_initializer="glorot")`: its state dict and
    draws (it initialises once when built and again with its layer)."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.in_channels, self.out_channels = n_in, n_out
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _glorot(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


def _glorot(weight: torch.Tensor) -> None:
    bound = math.sqrt(6.0 / (weight.size(-2) + weight.size(-1)))
    weight.data.uniform_(-bound, bound)


def _edge_softmax(alpha: torch.Tensor, dst: torch.Tensor, n_nodes: int) -> torch.Tensor:
    """Softmax of edge scores (edges x heads) over each target's incoming edges, as PyG's."""
    index = dst.view(-1, 1).expand_as(alpha)
    size = (n_nodes, alpha.shape[1])
    peak = alpha.new_zeros(size).scatter_reduce_(
        0, index, alpha.detach(), reduce="amax", include_self=False
    )
    out = (alpha - peak.index_select(0, dst)).exp()
    total = alpha.new_zeros(size).scatter_add_(0, index, out) + 1e-16
    return out / total.index_select(0, dst)
