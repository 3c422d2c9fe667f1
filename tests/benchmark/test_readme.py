"""The README's results block: built from both splits' summaries and spliced between markers."""

from __future__ import annotations

import pandas as pd
import pytest

from gnnimpute.benchmark import readme as R
from gnnimpute.benchmark.summary import summarize


def _rows(dataset: str, values: dict[str, tuple[float, float, float]]) -> list[dict]:
    rows = []
    for seed in (10, 11):
        for method, (mse, pcc, ari) in values.items():
            rows.append({"dataset": dataset, "n_cells": 50, "n_genes": 40, "label_key": "cell_type",
                         "protocol": "mask", "rate": 0.1, "train_frac": None, "seed": seed,
                         "method": method, "status": "ok", "mse": mse + seed - 10,
                         "pcc": pcc if method != "none" else None, "ari_kmeans": ari,
                         "ari_leiden": ari})  # fmt: skip
    return rows


def _write(root, stage: str, rows: list[dict]) -> None:
    (root / stage).mkdir(parents=True)
    summarize(pd.DataFrame(rows)).to_csv(root / stage / "summary.csv", index=False)


def test_section_one_table_per_use_with_spread_and_baselines(tmp_path):
    conf = _rows("worm_neurons", {"gnnimpute": (2.0, 0.5, 0.3), "gnnimpute_level": (1.0, 0.6, 0.1),
                                  "knn": (3.0, 0.4, 0.5), "knn_level": (1.5, 0.6, 0.2),
                                  "magic": (5.0, 0.2, 0.4), "none": (4.0, 0.0, 0.45)})  # fmt: skip
    _write(tmp_path, "confirmation", conf)
    pd.DataFrame(conf).to_csv(tmp_path / "confirmation" / "results.csv", index=False)
    text = R.section(tmp_path)
    assert text.startswith(R.BEGIN) and text.endswith(R.END)
    assert "worm at mask seeds 10-11" in text  # the seeds are read from the rows
    lines = text.splitlines()
    # hidden values: the level layer, mean ± sd over the two seeds (MSE 1.0 and 2.0 -> 1.50 ± 0.71)
    hidden = lines.index("| output | worm |") + 2
    assert lines[hidden] == "| `gnnimpute_level` | **1.50 ± 0.71** |"
    assert lines[hidden + 1] == "| no imputation | 4.50 ± 0.71 |"
    # the best simple baseline is the lower MSE of knn (3.5) and knn_level (2.0), named
    assert lines[hidden + 2] == "| best simple baseline | 2.00 ± 0.71 (knn_level) |"
    assert lines[hidden + 3] == "| best other method | 5.50 ± 0.71 (magic) |"
    # clustering: the default layer, higher is better, the best mean in bold
    row = next(ln for ln in lines if ln.startswith("| `gnnimpute` (default)"))
    assert row == "| `gnnimpute` (default) | 0.300 ± 0.000 | 0.300 ± 0.000 |"
    assert "| best simple baseline | **0.500 ± 0.000** (knn) |" in text
    # the verdicts: a gap inside the larger sd is a tie (1.50 vs 2.00, sd 0.71), beyond it a win
    assert ("`gnnimpute_level`, against no imputation: ahead on worm / against the best simple "
            "baseline: tied on worm") in text  # fmt: skip
    assert "against no imputation: behind on worm k-means ARI, worm Leiden ARI" in text
    # no MCV rows, so no count table
    assert "Poisson NLL" not in text and "Counts for count models" not in text


def test_fmt_rounds_the_sd_to_the_means_digits():
    assert R.fmt(1072.28, 87.9) == "1072 ± 88"
    assert R.fmt(1.4443, 0.0606) == "1.44 ± 0.06"
    assert R.fmt(0.0122, None) == "0.0122"
    assert R.fmt(0.23454, 0.02415) == "0.235 ± 0.024"


def test_plot_uses_writes_a_png(tmp_path):
    conf = _rows("worm_neurons", {"gnnimpute": (2.0, 0.5, 0.3), "gnnimpute_level": (1.0, 0.6, 0.1),
                                  "knn": (3.0, 0.4, 0.5), "none": (4.0, 0.0, 0.45)})  # fmt: skip
    _write(tmp_path, "confirmation", conf)
    png = tmp_path / "uses.png"
    assert R.plot_uses(tmp_path, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not R.plot_uses(tmp_path / "missing", tmp_path / "none.png")


def test_splice_replaces_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nintro\n\n{R.BEGIN}\nold\n{R.END}\n\n## After\nkept\n")
    R.splice(readme, f"{R.BEGIN}\nnew\n{R.END}")
    assert readme.read_text() == f"# title\n\nintro\n\n{R.BEGIN}\nnew\n{R.END}\n\n## After\nkept\n"
    readme.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="no <!-- benchmark:begin -->"):
        R.splice(readme, "x")
    assert readme.read_text() == "# no markers\n"  # untouched
