import numpy as np
import pytest

from gnnimpute.errors import InputError
from gnnimpute.output.blend import blend, blend_factor, parse_blend

P = np.array([[0.0, 0.1, 0.5, 1.0]], dtype=np.float32)


def test_blend_factors_by_hand():
    np.testing.assert_array_equal(blend_factor(P, "level"), np.ones_like(P))
    np.testing.assert_array_equal(blend_factor(P, "expected"), P)
    np.testing.assert_allclose(blend_factor(P, "power:0.5"), np.sqrt(P), rtol=1e-6)
    gate = blend_factor(P, "gate:40,0.1")
    np.testing.assert_allclose(gate, 1 / (1 + np.exp(-40 * (P - 0.1))), rtol=1e-5)
    assert gate[0, 1] == pytest.approx(0.5) and gate[0, 0] < 0.02 and gate[0, 2] > 0.99


def test_blend_multiplies_the_level_in_chunks():
    level = np.arange(12, dtype=np.float32).reshape(3, 4)
    p = np.tile(P, (3, 1))
    np.testing.assert_allclose(blend(level, p, "expected", chunk=2), level * p)


@pytest.mark.parametrize("spec", ["gate", "gate:1", "power:0", "power:-1", "soft", "power:x"])
def test_bad_blends_are_refused(spec):
    with pytest.raises(InputError, match="blend"):
        parse_blend(spec)


def test_keep_blend_keeps_observed_values_and_fills_zeros_by_hand():
    """keep:expected on a 2 x 3 matrix: observed non-zeros stay as they are, the zeros get
    level x p; dense and sparse observed give the same answer, in any chunking."""
    import scipy.sparse as sp

    level = np.array([[4.0, 2.0, 6.0], [1.0, 8.0, 3.0]], dtype=np.float32)
    p = np.array([[0.5, 0.25, 0.1], [1.0, 0.5, 0.0]], dtype=np.float32)
    observed = np.array([[3.0, 0.0, 0.0], [0.0, 0.0, 5.0]], dtype=np.float32)
    want = np.array([[3.0, 0.5, 0.6], [1.0, 4.0, 5.0]], dtype=np.float32)
    for obs in (observed, sp.csr_matrix(observed)):
        np.testing.assert_allclose(blend(level, p, "keep:expected", observed=obs, chunk=1), want)
    gate = blend(level, p, "keep:gate:40,0.1", observed=observed)
    assert gate[0, 0] == 3.0 and gate[1, 2] == 5.0  # observed kept
    np.testing.assert_allclose(gate[0, 1], 2.0 / (1 + np.exp(-40 * 0.15)), rtol=1e-5)
    assert parse_blend("keep:gate:40,0.1") == ("gate", (40.0, 0.1))
    with pytest.raises(ValueError, match="needs the observed values"):
        blend(level, p, "keep:expected")
    with pytest.raises(InputError, match="blend"):
        parse_blend("keep:soft")
