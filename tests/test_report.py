"""The generated Reading reads every metric column, losses included, and the issue's targets."""

import numpy as np
import pandas as pd

from gnnimpute.benchmark.report import MASK_METRICS, SPLIT_METRICS, readme_section, summarize


def _rows():
    rows = []
    metrics = {c: hib for c, _, hib in MASK_METRICS}
    for method, good in (("gnnimpute", 1.0), ("none", 0.0), ("knn", 0.5), ("knn_level", 2.0)):
        for seed in (0, 1):
            row = {"dataset": "d", "protocol": "mask", "rate": 0.1, "train_frac": None,
                   "seed": seed, "method": method, "status": "ok", "n_cells": 10,
                   "n_genes": 5, "label_key": "cell_type", "wall_s": 1.0 + good,
                   "peak_rss_mb": 100.0}  # fmt: skip
            for c, hib in metrics.items():
                row[c] = (good if hib else 10 - good) + 0.01 * seed
            rows.append(row)
    for method, pois in (("gnnimpute", 0.3), ("knn", 0.2), ("magic", 0.25)):
        rows.append({"dataset": "d", "protocol": "split", "rate": None, "train_frac": 0.9,
                     "seed": 0, "method": method, "status": "ok", "n_cells": 10, "n_genes": 5,
                     "label_key": "cell_type", "mcv_mse": pois, "mcv_poisson": pois,
                     "mcv_poisson_nll": pois, "wall_s": 1.0, "peak_rss_mb": 50.0})  # fmt: skip
    return pd.DataFrame(rows)


def test_reading_covers_every_metric_column_and_the_targets():
    df = _rows()
    text = readme_section(df, summarize(df), None, stage="confirmation")
    assert text.startswith("## Benchmarks: confirmation")
    reading = text.split("### Reading", 1)[1]
    for _, label, _ in MASK_METRICS + SPLIT_METRICS:
        assert f", {label}: gnnimpute " in reading, label
    # gnnimpute loses to knn_level on every mask metric here: the losses are read, not skipped
    assert reading.count("gnnimpute loses") >= len(MASK_METRICS)
    assert "k-means ARI is not below no imputation" in reading
    assert "k-means ARI is BELOW kNN averaging" not in reading  # 1.005 vs 0.505: met
    assert "Leiden ARI is not below kNN averaging (1.005 vs 0.505); target met" in reading
    assert "MCV Poisson is ABOVE kNN averaging (0.3 vs 0.2); target MISSED" in reading
    assert "MCV Poisson is ABOVE MAGIC" in reading
    s = summarize(df)
    assert np.isfinite(s.loc[s["protocol"] == "mask", "ari_kmeans_embedding"]).all()
