"""The memory estimate and the guard that refuses runs that cannot fit."""

import numpy as np
import pytest
from shared_helpers import FAST, counts_only

import gnnimpute
from gnnimpute.errors import InputError
from gnnimpute.memory import estimate_peak, parse_size


def test_memory_guard_refuses_with_one_line_advice(sim_adata, monkeypatch):
    monkeypatch.setenv("GNNIMPUTE_MEMORY_LIMIT", "64M")
    with pytest.raises(InputError) as err:
        gnnimpute.impute(counts_only(sim_adata), **FAST)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("estimated peak memory ") and "exceeds the 0.1 GiB available" in msg
    assert "--batch-cells" in msg and "--out-chunked" in msg


def test_memory_estimate_is_linear_in_cells_and_streaming_helps():
    sizes = [10_000, 100_000, 1_000_000]
    est = [estimate_peak(n, 2000, n * 160, batch_cells=0) for n in sizes]
    grown = [e.total - e.parts["base"] for e in est]  # all but the fixed start-up cost
    slope = np.polyfit(np.log(sizes), np.log(grown), 1)[0]
    assert slope == pytest.approx(1.0, abs=1e-6)
    assert 2 * 1024**3 < est[1].total < 8 * 1024**3  # 100k x 2k: within the 8 GB
    mini = estimate_peak(100_000, 2000, 100_000 * 160, batch_cells=4096)
    assert mini.total < 0.6 * est[1].total
    full = estimate_peak(100_000, 15_000, 150_000_000)
    streamed = estimate_peak(100_000, 15_000, 150_000_000, streamed=True, batch_cells=4096)
    assert full.total - streamed.total > 100_000 * 15_000 * 4 * 0.9
    assert parse_size("8G") == 8 * 1024**3 and parse_size("512MiB") == 512 * 1024**2
    with pytest.raises(InputError):
        parse_size("lots")
