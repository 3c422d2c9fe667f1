import numpy as np
import pytest

from gnnimpute.blend import blend, blend_factor, parse_blend
from gnnimpute.errors import InputError

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
