"""The README's results block: built from both splits' summaries and spliced between markers."""

from __future__ import annotations

import pandas as pd
import pytest

from gnnimpute.benchmark import readme as R
from gnnimpute.benchmark.report import summarize


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


def test_section_tables_and_verdicts(tmp_path):
    conf = _rows("worm_neurons", {"gnnimpute": (2.0, 0.5, 0.3), "knn": (3.0, 0.4, 0.5),
                                  "knn_level": (1.5, 0.6, 0.1), "none": (4.0, 0.0, 0.45)})  # fmt: skip
    _write(tmp_path, "confirmation", conf)
    text = R.section(tmp_path)
    assert text.startswith(R.BEGIN) and text.endswith(R.END)
    assert "### Confirmation" in text and "(not run: no" in text  # development missing, said so
    assert "mean ± sd of 2 mask seeds" in text and "inside the spread is not a win" in text
    # means ± sd over the two seeds (MSE 2.0 and 3.0 -> 2.5 ± 0.707), methods in README order
    line = next(ln for ln in text.splitlines() if ln.startswith("| gnnimpute |"))
    assert "2.5 ± 0.707 / 0.500 ± 0.000" in line and "0.300 ± 0.000 / 0.300 ± 0.000" in line
    order = [ln.split("|")[1].strip() for ln in text.splitlines() if ln.startswith("| ")][1:]
    assert order[:4] == ["gnnimpute", "knn_level", "knn", "none"]
    # the verdicts are read from the numbers: MSE behind knn_level by 0.5, inside the 0.71
    # spread (a tie), clustering below none and knn
    assert (
        "MSE: gnnimpute ties, inside the seed spread (behind) (2.5 ± 0.71 vs best peer knn_level 2 ± 0.71"
        in text
    )
    assert "k-means ARI is BELOW no imputation (0.3 ± 0 vs 0.45 ± 0); target MISSED." in text


def test_splice_replaces_only_the_marked_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nintro\n\n{R.BEGIN}\nold\n{R.END}\n\n## After\nkept\n")
    R.splice(readme, f"{R.BEGIN}\nnew\n{R.END}")
    assert readme.read_text() == f"# title\n\nintro\n\n{R.BEGIN}\nnew\n{R.END}\n\n## After\nkept\n"
    readme.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="no <!-- benchmark:begin -->"):
        R.splice(readme, "x")
    assert readme.read_text() == "# no markers\n"  # untouched
