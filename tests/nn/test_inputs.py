"""Encoder inputs: hiding entries from the gene and projected inputs, and their sparse products."""

import numpy as np
import scipy.sparse as sp
import torch
from shared_helpers import random_target

from gnnimpute.nn.inputs import GeneInput, ProjectedInput
from gnnimpute.training.entries import ObservedEntries

CPU = torch.device("cpu")


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


def test_hiding_on_top_of_a_base_input_hides_both_sets():
    """Training hides its draw on top of validation's input: the same as hiding the union."""
    t = random_target(seed=5, shape=(40, 30))
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
