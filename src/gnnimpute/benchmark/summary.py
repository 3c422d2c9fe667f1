"""The benchmark's rows summarized: mean and spread per dataset, protocol, rate and method."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .methods import REGISTRY

# (column, label, higher_is_better)
MASK_METRICS = [
    ("mse", "MSE", False),
    ("mae", "MAE", False),
    ("pcc", "PCC (pooled)", True),
    ("cosine", "cosine (pooled)", True),
    ("pcc_cell_mean", "PCC (cell mean)", True),
    ("cosine_cell_mean", "cosine (cell mean)", True),
    ("ari_kmeans", "ARI k-means", True),
    ("nmi_kmeans", "NMI k-means", True),
    ("ari_leiden", "ARI Leiden", True),
    ("nmi_leiden", "NMI Leiden", True),
    ("ari_kmeans_embedding", "ARI k-means (embedding)", True),
    ("nmi_kmeans_embedding", "NMI k-means (embedding)", True),
    ("ari_leiden_embedding", "ARI Leiden (embedding)", True),
    ("nmi_leiden_embedding", "NMI Leiden (embedding)", True),
    ("truth_mse_log", "MSE vs truth (log)", False),
    ("truth_pcc_log", "PCC vs truth (log)", True),
    ("truth_pcc_dropout", "PCC vs truth, dropouts", True),
]


SPLIT_METRICS = [
    ("mcv_poisson_nll", "MCV Poisson NLL (per-cell rescaled)", False),
    ("mcv_mse", "MCV MSE (log-norm)", False),
    ("mcv_poisson", "MCV Poisson (Open Problems' formula, not a likelihood)", False),
]


RESOURCE = [("wall_s", "wall time (s)", False), ("peak_rss_mb", "peak RSS (MB)", False)]


GROUP_COLS = ["dataset", "protocol", "rate", "train_frac", "method"]


MAIN = "gnnimpute"


def _method_order(names) -> list[str]:
    names = set(names)
    first = [m for m in ("unmasked", "none") if m in names]
    known = [m for m in REGISTRY if m in names and m not in first]
    rest = sorted(names - set(known) - set(first))
    return first + known + rest


def _metric_cols(df: pd.DataFrame) -> list[str]:
    return [c for c, _, _ in MASK_METRICS + SPLIT_METRICS + RESOURCE if c in df.columns]


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd and number of seeds per dataset x protocol x rate/fraction x method."""
    if df.empty:
        return df
    df = df.copy()
    for c in ("rate", "train_frac"):
        if c not in df:
            df[c] = np.nan
    df[["rate", "train_frac"]] = df[["rate", "train_frac"]].astype(float).fillna(-1.0)
    cols = _metric_cols(df)
    out = []
    for key, g in df.groupby(GROUP_COLS, sort=False):
        ok = g[g["status"] == "ok"]
        rec = dict(zip(GROUP_COLS, key, strict=True))
        rec["n_ok"] = len(ok)
        rec["n_runs"] = len(g)
        bad = g[g["status"] != "ok"]
        rec["status"] = (
            "ok"
            if bad.empty
            else (
                "skipped"
                if (bad["status"] == "skipped").all() and ok.empty
                else ("partial" if len(ok) else str(bad["status"].iloc[0]))
            )
        )
        rec["reason"] = (
            "; ".join(sorted({str(r) for r in bad.get("reason", pd.Series()).dropna()})) or None
        )
        opts = g.get("options", pd.Series(dtype=object)).dropna().astype(str)
        rec["options"] = "; ".join(sorted({o for o in opts if o})) or None
        for c in cols:
            v = (
                pd.to_numeric(ok[c], errors="coerce").dropna()
                if c in ok
                else pd.Series(dtype=float)
            )
            rec[c] = float(v.mean()) if len(v) else np.nan
            rec[c + "_sd"] = float(v.std(ddof=1)) if len(v) > 1 else np.nan
        out.append(rec)
    s = pd.DataFrame(out)
    s[["rate", "train_frac"]] = s[["rate", "train_frac"]].replace(-1.0, np.nan)
    return s
