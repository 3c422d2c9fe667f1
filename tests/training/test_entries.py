"""Observed entries: the fixed validation split and each epoch's hidden draw."""

import numpy as np
import scipy.sparse as sp
from shared_helpers import random_target

from gnnimpute.training.entries import ObservedEntries


def test_validation_split_is_fixed_disjoint_and_complete():
    t = random_target()
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
    t = random_target()
    rng_default, rng_other = np.random.default_rng(1), np.random.default_rng(1)
    default = ObservedEntries(t, 0.2, rng_default)
    other = ObservedEntries(t, 0.2, rng_other, val_seed=5)
    assert other.val.size == default.val.size and not np.array_equal(other.val, default.val)
    assert np.intersect1d(other.val, other.train).size == 0
    assert other.val.size + other.train.size == t.nnz
    assert rng_default.integers(1 << 30) == rng_other.integers(1 << 30)  # same state after
    again = ObservedEntries(t, 0.2, np.random.default_rng(9), val_seed=5)
    np.testing.assert_array_equal(other.val, again.val)  # the split depends on val_seed alone


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
