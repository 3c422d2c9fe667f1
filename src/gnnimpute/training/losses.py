"""The hurdle decoder's detection loss, kept apart from the training loop so both stay small.

The level head learns the value a gene has where it is detected (MSE at hidden non-zeros). The
detection head learns P(detected | the cell's context) with a binary cross-entropy on the entries
the encoder sees as zero: the observed zeros (label 0) and the hidden non-zeros (label 1). Observed
zeros are scored every step, a non-zero only when hidden (a share `rate` of them), so zeros are
weighted by `rate`: the optimum is then the share of the context in which the gene is detected,
not a probability deflated by the masking rate.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def level_scale(cols: np.ndarray, values: np.ndarray, n_genes: int) -> float:
    """Mean squared deviation of non-zeros from their gene's non-zero mean.

    The level loss of a per-gene constant: it puts the cross-entropy (order 0.1-1) on the level
    loss's scale (normalized counts squared), so one weight means the same on every data set.
    """
    values = values.astype(np.float64)
    nnz = np.bincount(cols, minlength=n_genes)
    mean = np.bincount(cols, weights=values, minlength=n_genes) / np.maximum(nnz, 1)
    return float(np.mean((values - mean[cols]) ** 2)) if values.size else 1.0


def detection_bce(
    logits: torch.Tensor,
    zeros: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    entry_weights: torch.Tensor,
    gene_weights: torch.Tensor,
    rate: float,
) -> torch.Tensor:
    """Mean cross-entropy per matrix entry, estimated on a gene batch.

    logits, zeros: cells x batch (zeros is 1 at observed zeros); rows, cols: the hidden non-zeros
    in batch coordinates with their gene weights `entry_weights`; `gene_weights` re-weight the
    sampled genes so the batch sum estimates the all-gene sum; `rate`: share of non-zeros hidden.
    """
    total = _DetectionSum.apply(logits, zeros, rows, cols, entry_weights, rate * gene_weights)
    n_entries = logits.shape[0] * float(gene_weights.sum())
    return total / max(rate * n_entries, 1e-12)


class _DetectionSum(torch.autograd.Function):
    """sum(col_weights * zeros * softplus(logits)) + sum(entry_weights * softplus(-logits[rows,
    cols])), forward and backward in a few in-place passes over the cells x batch block.

    Written out by hand because the block is most of a Baron epoch: autograd's version made
    four block-sized temporaries each way (and a zero-filled block for the gather's gradient).
    """

    @staticmethod
    def forward(ctx, logits, zeros, rows, cols, entry_weights, col_weights):
        picked = logits[rows, cols]
        ctx.save_for_backward(logits, zeros, rows, cols, entry_weights, col_weights, picked)
        per_gene = F.softplus(logits).mul_(zeros).sum(0)
        return torch.dot(per_gene, col_weights) + torch.sum(entry_weights * F.softplus(-picked))

    @staticmethod
    def backward(ctx, grad):
        logits, zeros, rows, cols, entry_weights, col_weights, picked = ctx.saved_tensors
        out = torch.sigmoid(logits).mul_(zeros).mul_(col_weights)
        # (rows, cols) are distinct entries, so the order of these additions cannot matter
        out.index_put_((rows, cols), -entry_weights * torch.sigmoid(-picked), accumulate=True)
        return out.mul_(grad), None, None, None, None, None
