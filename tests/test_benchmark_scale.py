"""The scale benchmark's resampling, slopes and report (the runs themselves take hours)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_scale.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("benchmark_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_resampled_cells_keep_the_source_sparsity_and_scale(bench):
    rng = np.random.default_rng(0)
    source = sp.random(200, 300, density=0.08, random_state=1, format="csr", dtype=np.float32)
    source.data = rng.poisson(5, source.nnz).astype(np.float32) + 1
    out = bench.resample(source, 5_000, seed=0)
    assert out.shape == (5_000, 300) and out.dtype == np.float32
    assert np.all(out.data > 0) and np.all(out.data == np.round(out.data))  # counts
    density = out.nnz / np.prod(out.shape)
    assert 0.06 < density <= 0.08  # Poisson(small) drops a few non-zeros, never adds
    # u has mean 1, so the mean count per cell is kept
    assert out.sum() / 5_000 == pytest.approx(source.sum() / 200, rel=0.05)
    np.testing.assert_array_equal(out.toarray(), bench.resample(source, 5_000, seed=0).toarray())


def test_slopes_table_plot_and_readme_block(bench, tmp_path):
    from gnnimpute.benchmark.readme import splice

    rows = [
        {"name": f"pbmc-{n // 1000}k", "cells": n, "genes": 2000, "density": 0.075,
         "wall_s": 0.01 * n, "peak_gib": 1e-4 * n, "exit": 0, "epochs": 100,
         "s_per_epoch": 1e-4 * n}
        for n in (10_000, 40_000)
    ] + [{"name": "baron-100k", "cells": 100_000, "genes": 14_878, "density": 0.11,
          "wall_s": 3000.0, "peak_gib": 11.0, "exit": 1}]  # fmt: skip
    assert bench.slope(rows[:2], "wall_s") == pytest.approx(1.0)
    assert bench.slope(rows[2:], "wall_s") is None  # one point, no slope
    png, md = tmp_path / "scale.png", tmp_path / "table.md"
    bench.write_report(rows, png, md)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = md.read_text()
    assert "| pbmc-40k | 40000 | 2000 | 7.5% | 400 | 4.00 | 100 | 4.00 | 0 |" in table
    assert "| baron-100k | 100000 | 14878 | 11.0% | 3000 | 11.00 | - | nan | 1 |" in table
    assert "pbmc: fitted log-log slope of peak RSS against cells: 1.00" in table
    assert "pbmc: fitted log-log slope of s/epoch against cells: 1.00" in table
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{bench.README_BEGIN}\nold\n{bench.README_END}\ntail\n")
    splice(readme, bench.readme_block(table), begin=bench.README_BEGIN, end=bench.README_END)
    text = readme.read_text()
    assert "old" not in text and text.endswith(f"{bench.README_END}\ntail\n")
    assert text.count("| pbmc-40k |") == 1
