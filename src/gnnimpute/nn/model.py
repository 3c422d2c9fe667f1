"""The GNNImpute autoencoder as a plain `nn.Module`: it knows tensors and graphs, not AnnData."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .sampled_product import entry_dot, gather_rows
from .sparse_gat import SparseGATConv as GATConv  # GATConv without per-edge feature tensors

LAYER_TYPES = ("gat", "gcn")
SOFTPLUS_INV_ONE = math.log(math.e - 1.0)


class GNNImputeModel(nn.Module):
    """Graph encoder (2 GAT or GCN layers) and an MLP decoder with non-negative output.

    Encoder: conv(n_input -> hidden[0]) -> BatchNorm -> ReLU -> dropout -> conv(hidden[0] -> hidden[1])
    -> BatchNorm -> ReLU, with multi-head attention averaged (not concatenated), as in the paper.
    Decoder: Linear -> BatchNorm -> ReLU -> Linear -> softplus (the level where detected); with
    `detection=True` a second last layer gives the logit of P(detected) (a hurdle decoder). The
    last layers can be evaluated for a subset of genes (`decode_genes`, `detect_genes`), so
    training never builds the dense cells x genes output.
    """

    def __init__(
        self,
        n_input: int,
        n_output: int,
        *,
        hidden: tuple[int, int] = (512, 50),
        heads: int = 3,
        layer_type: str = "gat",
        dropout: float = 0.1,
        attn_dropout: float = 0.0,
        detection: bool = False,
    ):
        super().__init__()
        if layer_type not in LAYER_TYPES:
            raise ValueError(f"layer_type must be one of {LAYER_TYPES}, got {layer_type!r}")
        if len(hidden) != 2 or min(hidden) < 1:
            raise ValueError(f"hidden must be two positive sizes, got {hidden!r}")
        if heads < 1:
            raise ValueError(f"heads must be >= 1, got {heads}")
        self.n_input = n_input
        self.n_output = n_output
        self.hidden = tuple(int(h) for h in hidden)
        self.heads = heads
        self.layer_type = layer_type
        self.dropout = dropout
        self.attn_dropout = attn_dropout
        self.detection = detection

        self.conv1 = self._conv(n_input, self.hidden[0])
        self.norm1 = nn.BatchNorm1d(self.hidden[0])
        self.conv2 = self._conv(self.hidden[0], self.hidden[1])
        self.norm2 = nn.BatchNorm1d(self.hidden[1])
        self.dec1 = nn.Linear(self.hidden[1], self.hidden[0])
        self.dec_norm = nn.BatchNorm1d(self.hidden[0])
        self.out = nn.Linear(self.hidden[0], n_output)
        # Hurdle decoder: a second per-gene head gives the logit of P(detected) beside the level.
        self.det = nn.Linear(self.hidden[0], n_output) if detection else None
        # Per-gene output scale (set from the data, e.g. mean non-zero level): keeps the logits O(1)
        # while genes span orders of magnitude, so one learning rate suits every gene.
        self.register_buffer("gene_scale", torch.ones(n_output))
        self.reset_parameters()

    @torch.no_grad()
    def start_at(self, *, level: np.ndarray, detection_rate: np.ndarray) -> None:
        """Start each gene at the data's scale: the level at `level` (its mean non-zero value),
        P(detected) at its observed `detection_rate` (clipped away from 0 and 1)."""
        self.gene_scale.copy_(torch.as_tensor(level))
        if self.det is not None:
            rate = np.clip(detection_rate, 1e-4, 1 - 1e-4)
            self.det.bias.copy_(torch.as_tensor(np.log(rate / (1 - rate)), dtype=torch.float32))

    def _conv(self, n_in: int, n_out: int) -> nn.Module:
        # Self-loops are part of the graph we build, so the convolutions must not add them again.
        if self.layer_type == "gat":
            return GATConv(
                n_in,
                n_out,
                heads=self.heads,
                concat=False,
                add_self_loops=False,
                dropout=self.attn_dropout,
            )
        with warnings.catch_warnings():  # PyG's import-time jit.script deprecation is not ours
            warnings.simplefilter("ignore", FutureWarning)
            from torch_geometric.nn import GCNConv  # imported only here: ~2.5 s of CPU

        return GCNConv(n_in, n_out, add_self_loops=False)

    def reset_parameters(self) -> None:
        for module in (
            self.conv1,
            self.norm1,
            self.conv2,
            self.norm2,
            self.dec1,
            self.dec_norm,
            self.out,
        ):
            module.reset_parameters()
        if self.det is not None:
            self.det.reset_parameters()

    def encode(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Bottleneck embedding (n_cells x hidden[1])."""
        h = F.relu(self.norm1(self.conv1(x, edge_index)))
        h = F.dropout(h, self.dropout, self.training)
        return F.relu(self.norm2(self.conv2(h, edge_index)))

    def decode_hidden(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder activations before the last (per-gene) layer."""
        h = F.relu(self.dec_norm(self.dec1(F.dropout(z, self.dropout, self.training))))
        return h

    def decode_genes(self, h: torch.Tensor, genes: torch.Tensor) -> torch.Tensor:
        """Output for all cells at the chosen genes only: training never needs every gene at once."""
        weight, bias = gather_rows(self.out.weight, genes), gather_rows(self.out.bias, genes)
        return F.softplus(torch.addmm(bias, h, weight.T)) * self.gene_scale[genes]

    def decode_entries(
        self, h: torch.Tensor, genes: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
    ) -> torch.Tensor:
        """`decode_genes(h, genes)[rows, cols]` without the dense block: the level loss needs
        only the hidden entries, a few percent of it."""
        pre = entry_dot(h, gather_rows(self.out.weight, genes), rows, cols)
        # index_select, not indexing: indexing's backward adds the repeated columns in thread
        # order, so a seed's results changed from run to run with 2 threads
        bias = torch.index_select(gather_rows(self.out.bias, genes), 0, cols)
        return F.softplus(pre + bias) * self.gene_scale[genes[cols]]

    def decode_all(self, h: torch.Tensor) -> torch.Tensor:
        """Dense output for the given cells (callers chunk the cells to bound memory)."""
        return F.softplus(_wide_linear(h, self.out)) * self.gene_scale

    def detect_genes(self, h: torch.Tensor, genes: torch.Tensor) -> torch.Tensor:
        """Logits of P(detected) for all cells at the chosen genes (hurdle decoder only)."""
        weight, bias = gather_rows(self.det.weight, genes), gather_rows(self.det.bias, genes)
        return torch.addmm(bias, h, weight.T)  # one block written, not two

    def detect_all(self, h: torch.Tensor) -> torch.Tensor:
        """P(detected) for the given cells and every gene (callers chunk the cells)."""
        return torch.sigmoid(_wide_linear(h, self.det))

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense reconstruction and embedding; for small inputs and tests."""
        z = self.encode(x, edge_index)
        return self.decode_all(self.decode_hidden(z)), z

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.n_input} -> {self.hidden[0]} -> {self.hidden[1]} -> "
            f"{self.hidden[0]} -> {self.n_output}, layer_type={self.layer_type!r}, "
            f"heads={self.heads if self.layer_type == 'gat' else 1}, dropout={self.dropout}, "
            f"attn_dropout={self.attn_dropout}, detection={self.detection})"
        )


def _wide_linear(h: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """`layer(h)` for a layer with many more outputs than `h` has rows (a block of cells x every
    gene), as a transposed view of genes x cells: MKL ran the product at about half speed in
    the cells x genes orientation (256 x 256 x 14,466: 36 against 71 GFLOPS)."""
    return torch.addmm(layer.bias[:, None], layer.weight, h.T).T
