"""Work done only where it is needed: products at chosen (row, column) entries, and gradients
of the weight rows a gene batch used.

The level loss needs the decoder's output at the hidden non-zeros of a gene batch, a few percent
of the cells x batch block. A dense product computes the whole block and its backward pass two
more of its size; a sampled product (SDDMM) computes only the entries, and its gradients are two
sparse products. On Baron that is ~12 ms instead of ~40 ms per training step, with the same sums
up to float rounding, on CPU and CUDA alike.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch


def csr_tensor(
    crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """A CSR tensor from arrays already in CSR order (not checked: the callers build them so)."""
    with warnings.catch_warnings():  # torch flags every CSR tensor as beta; these products are not
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


def from_scipy_csr(matrix) -> torch.Tensor:
    """A scipy CSR matrix as a torch CSR tensor sharing its arrays (int32 indices where scipy
    has them)."""
    int32 = matrix.indices.dtype == np.int32 and matrix.indptr.dtype == np.int32
    index = np.int32 if int32 else np.int64
    return csr_tensor(
        torch.from_numpy(matrix.indptr.astype(index, copy=False)),
        torch.from_numpy(matrix.indices.astype(index, copy=False)),
        torch.from_numpy(matrix.data),
        matrix.shape,
    )


def crow_of(sorted_rows: torch.Tensor, n_rows: int) -> torch.Tensor:
    """CSR row pointers of entries sorted by row."""
    counts = torch.bincount(sorted_rows, minlength=n_rows)
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


class EntryPattern:
    """The (row, column) entries of an n_rows x n_cols block as CSR, and its transpose."""

    def __init__(self, rows: torch.Tensor, cols: torch.Tensor, shape: tuple[int, int]):
        rows, cols = rows.long(), cols.long()
        n_rows, n_cols = shape
        key = rows * n_cols + cols
        if key.numel() > 1 and not bool((key[1:] > key[:-1]).all()):
            order = torch.argsort(key)  # rows sorted, columns sorted within each row
            rows, cols = rows[order], cols[order]
            self.order = order
        else:
            self.order = None  # the entries came in CSR order (training's always do)
        self.shape = (n_rows, n_cols)
        self.rows, self.col = rows, cols  # in CSR order
        self.crow = crow_of(rows, n_rows)
        self.order_t = torch.argsort(cols * n_rows + rows)
        self.crow_t, self.col_t = crow_of(cols[self.order_t], n_cols), rows[self.order_t]

    def matrix(self, values: torch.Tensor) -> torch.Tensor:
        return csr_tensor(self.crow, self.col, values, self.shape)

    def matrix_t(self, values: torch.Tensor) -> torch.Tensor:
        return csr_tensor(self.crow_t, self.col_t, values[self.order_t], self.shape[::-1])


class _EntryDot(torch.autograd.Function):
    """values[e] = a[row_e] . b[col_e], in the pattern's CSR order."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, pattern: EntryPattern) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        ctx.pattern = pattern
        ones = a.new_ones(pattern.col.numel())
        return torch.sparse.sampled_addmm(pattern.matrix(ones), a, b.T, beta=0.0).values()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, b = ctx.saved_tensors
        pattern = ctx.pattern
        grad = grad.contiguous()
        grad_a = pattern.matrix(grad) @ b if ctx.needs_input_grad[0] else None
        grad_b = pattern.matrix_t(grad) @ a if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None


def entry_dot(a: torch.Tensor, b: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor):
    """(a @ b.T)[rows, cols] without the dense product, in the order of `rows`, `cols`."""
    a, b = a.contiguous(), b.contiguous()
    pattern = EntryPattern(rows, cols, (a.shape[0], b.shape[0]))
    values = _EntryDot.apply(a, b, pattern)
    if pattern.order is None:
        return values
    back = torch.empty_like(pattern.order)
    back[pattern.order] = torch.arange(back.numel(), device=back.device)
    return values[back]  # in the caller's order


class _GatherRows(torch.autograd.Function):
    """weight[index] for unique, sorted `index`, with a sparse gradient (only those rows).

    Plain indexing's backward allocates and zeroes a gradient the size of the whole weight each
    step (a 14,466 x 256 gene head on Baron: ~7 ms of fresh pages per head); added into a
    gradient kept between steps (`optim.Adam` keeps it), the sparse one touches only its rows.
    """

    @staticmethod
    def forward(ctx, weight: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ctx.index, ctx.shape = index, weight.shape
        return weight[index]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        index = ctx.index.long()[None]
        sparse = torch.sparse_coo_tensor(
            index, grad, ctx.shape, is_coalesced=True, check_invariants=False
        )
        return sparse, None


def gather_rows(weight: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """`weight[index]` (index unique and sorted) whose gradient holds only the rows it read."""
    return _GatherRows.apply(weight, index)
