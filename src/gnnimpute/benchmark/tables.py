"""Markdown from the summary: the result tables, the comparison with the peers, the README section."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .methods import PEERS
from .summary import MAIN, MASK_METRICS, RESOURCE, SPLIT_METRICS, _method_order


def _fmt(v, sd=None, digits=4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    txt = f"{v:.{digits}g}"
    if sd is not None and isinstance(sd, float) and math.isfinite(sd):
        txt += f" ± {sd:.2g}"
    return txt


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def summary_table(
    s: pd.DataFrame, dataset: str, protocol: str, value: float | None, compact: bool = True
) -> str:
    col = "rate" if protocol == "mask" else "train_frac"
    sub = s[(s["dataset"] == dataset) & (s["protocol"] == protocol)]
    if value is not None:
        sub = sub[np.isclose(sub[col].astype(float), value)]
    metrics = MASK_METRICS if protocol == "mask" else SPLIT_METRICS
    if compact:  # the README's columns; results.csv / summary.csv have them all
        metrics = [m for m in metrics if m[0] != "cosine_cell_mean" and not m[0].startswith("nmi_")]
    metrics = [m for m in metrics if m[0] in sub and sub[m[0]].notna().any()]
    header = ["method", *[lab for _, lab, _ in metrics], "wall time (s)", "peak RSS (MB)", "seeds"]
    best = {}
    for c, _, hib in metrics:
        vals = sub[sub["method"] != "unmasked"][c].dropna()
        if len(vals):
            best[c] = vals.max() if hib else vals.min()
    rows = []
    for m in _method_order(sub["method"]):
        r = sub[sub["method"] == m].iloc[0]
        if r["n_ok"] == 0:
            rows.append([m, *[f"{r['status']}: {r['reason']}"] + ["–"] * (len(header) - 2)])
            continue
        opts = r.get("options")
        cells = [f"{m} ({opts})" if isinstance(opts, str) and opts else m]
        for c, _, _ in metrics:
            txt = _fmt(r[c], r.get(c + "_sd"))
            if c in best and math.isfinite(r[c]) and np.isclose(r[c], best[c]):
                txt = f"**{txt}**"
            cells.append(txt)
        cells += [
            _fmt(r.get("wall_s"), digits=3),
            _fmt(r.get("peak_rss_mb"), digits=4),
            f"{int(r['n_ok'])}/{int(r['n_runs'])}",
        ]
        rows.append(cells)
    return md_table(header, rows)


def reference_rows(s: pd.DataFrame, dataset: str) -> pd.Series | None:
    ref = s[(s["dataset"] == dataset) & (s["protocol"] == "reference")]
    return None if ref.empty else ref.iloc[0]


def _is_main(method: str) -> bool:
    return method == MAIN or (method.startswith(MAIN + "_") and method not in PEERS)


def compare_to_peers(
    s: pd.DataFrame, dataset: str, rate: float | None, main: str = MAIN, protocol: str = "mask"
) -> list[str]:
    """Plain sentences: where ``main`` wins or loses against the best peer, for EVERY metric.

    Every column of the tables is read, losses included, plus the issue's targets: clustering
    at least that of no imputation and of kNN averaging, MCV Poisson at most kNN's and MAGIC's.
    """
    col = "rate" if protocol == "mask" else "train_frac"
    sub = s[
        (s["dataset"] == dataset)
        & (s["protocol"] == protocol)
        & np.isclose(s[col].astype(float), rate)
    ]
    where = f"{dataset}, {'rate' if protocol == 'mask' else 'train fraction'} {rate:g}"
    me = sub[sub["method"] == main]
    if me.empty or me.iloc[0]["n_ok"] == 0:
        return [f"- {where}: {main} has no successful run."]
    me = me.iloc[0]
    peers = sub[sub["method"].isin(PEERS) & (sub["n_ok"] > 0)]
    metrics = (MASK_METRICS if protocol == "mask" else SPLIT_METRICS) + RESOURCE
    out = []
    for c, lab, hib in metrics:
        if c not in sub or not math.isfinite(me.get(c, np.nan)):
            continue
        pv = peers[["method", c]].dropna()
        if pv.empty:
            continue
        bi = pv[c].idxmax() if hib else pv[c].idxmin()
        bm, bv = pv.loc[bi, "method"], pv.loc[bi, c]
        mine = me[c]
        wins = mine > bv if hib else mine < bv
        if hib:
            diff = f"{mine - bv:+.3f}"
        else:
            diff = f"{100 * (mine - bv) / abs(bv):+.1f} %" if bv else f"{mine - bv:+.3g}"
        verdict = "wins" if wins else "loses"
        if inside_spread(mine, bv, me.get(c + "_sd"), peers.loc[bi].get(c + "_sd")):
            verdict = f"ties, inside the seed spread ({'ahead' if wins else 'behind'})"
        out.append(
            f"- {where}, {lab}: {main} {verdict} ({_fmt(mine, me.get(c + '_sd'))} vs best peer "
            f"{bm} {_fmt(bv, peers.loc[bi].get(c + '_sd'))}, {diff})."
        )
    targets = (
        [("ari_kmeans", "k-means ARI", True), ("ari_leiden", "Leiden ARI", True)]
        if protocol == "mask"
        else [("mcv_poisson_nll", "MCV Poisson NLL", False)]
    )
    refs = ("none", "knn") if protocol == "mask" else ("knn", "magic")
    for c, lab, hib in targets:
        if c not in sub or not math.isfinite(me.get(c, np.nan)):
            continue
        for ref in refs:
            r = sub[(sub["method"] == ref) & (sub["n_ok"] > 0)]
            if r.empty or not math.isfinite(r.iloc[0].get(c, np.nan)):
                continue
            a0, a1 = r.iloc[0][c], me[c]
            sd0, sd1 = r.iloc[0].get(c + "_sd"), me.get(c + "_sd")
            ok = a1 >= a0 if hib else a1 <= a0
            rel = (
                ("is not below" if ok else "is BELOW")
                if hib
                else ("is not above" if ok else "is ABOVE")
            )
            name = {"none": "no imputation", "knn": "kNN averaging", "magic": "MAGIC"}[ref]
            note = " (the gap is inside the seed spread)" if inside_spread(a1, a0, sd1, sd0) else ""
            out.append(
                f"- {where}: {lab} {rel} {name} ({_fmt(a1, sd1)} vs {_fmt(a0, sd0)}); "
                f"target {'met' if ok else 'MISSED'}{note}."
            )
    return out


def inside_spread(a: float, b: float, sd_a=None, sd_b=None) -> bool:
    """True when |a - b| is no larger than the larger seed-to-seed sd of the two: such a
    difference is no win. False when neither has a spread (a single run)."""
    sds = [float(v) for v in (sd_a, sd_b) if v is not None and math.isfinite(float(v))]
    return bool(sds) and abs(float(a) - float(b)) <= max(sds)


SPREAD_NOTE = (
    "Every value is the mean ± sd over the seeds (mask seeds; for molecular cross-validation "
    "the split seeds). A difference inside that spread (no larger than the larger sd of the "
    'two) is not a win, and the Reading says "ties" for it.'
)


MCV_NOTE = (
    "Molecular cross-validation (Batson et al. 2019): every count is split binomially into train "
    "and test counts; methods see only the train counts. The primary column, `MCV Poisson NLL "
    "(per-cell rescaled)`, is the Poisson negative log-likelihood of the test counts, "
    "mean(mu - y log(mu + 1e-6)) over all entries (without the constant log y!), where mu is "
    "each cell's denoised values rescaled to sum to that cell's test total. `MCV Poisson (Open "
    "Problems' formula, not a likelihood)` is mean(y - mu log(y + 1e-6)) with the arguments in "
    "the order Open Problems passes them: it is linear in the prediction and rewards large "
    "values wherever a test count is at least 2, so it is shown for comparison only."
)


STAGES = {
    "development": "Development split: every choice of the method was made on these data "
    "(Baron and PBMC 4k at mask seeds 0-2, the simulations); their figures are optimistic.",
    "confirmation": "Confirmation: data never used for any choice (worm neurons; Baron and "
    "PBMC 4k at mask seeds no choice was made on, the tables' seed column), run once with the "
    "chosen defaults.",
}


# One table per use: the layer gnnimpute offers for it, against every peer run.
USES = [
    ("Hidden values", "gnnimpute_level", "mask", [("mse", "MSE", False), ("pcc", "PCC", True)]),
    ("Counts for count models (molecular cross-validation)", "gnnimpute_expected", "split",
     [("mcv_poisson_nll", "MCV Poisson NLL", False)]),
    ("Clustering", "gnnimpute", "mask",
     [("ari_kmeans", "ARI k-means", True), ("ari_leiden", "ARI Leiden", True)]),
]  # fmt: skip


def use_tables(s: pd.DataFrame) -> list[str]:
    """Per use, mean ± sd of its layer and of every peer on each data set, and whether the
    layer is at least as good as every peer (first column) and as no imputation (clustering)."""
    parts: list[str] = []
    datasets = [d for d in dict.fromkeys(s["dataset"]) if not str(d).startswith("sim")]
    for title, layer, protocol, metrics in USES:
        sub = s[(s["protocol"] == protocol) & (s["n_ok"] > 0) & s["dataset"].isin(datasets)]
        if layer not in set(sub["method"]):
            continue
        methods = [layer] + [m for m in _method_order(sub["method"]) if m in PEERS or m == "none"]
        header = ["method"] + [f"{d}: {lab}" for d in datasets for _, lab, _ in metrics]
        rows = []
        for m in methods:
            cells = [f"**{m}**" if m == layer else m]
            for d in datasets:
                r = sub[(sub["dataset"] == d) & (sub["method"] == m)]
                for c, _, _ in metrics:
                    cells.append(
                        "–" if r.empty else _fmt(r.iloc[0].get(c), r.iloc[0].get(c + "_sd"))
                    )
            rows.append(cells)
        parts += [f"#### {title}: `{layer}`", "", md_table(header, rows), ""]
        refs = methods[1:]
        checks = [metrics[0]] if layer != MAIN else metrics
        for d in datasets:
            me = sub[(sub["dataset"] == d) & (sub["method"] == layer)]
            if me.empty:
                continue
            me = me.iloc[0]
            for c, lab, hib in checks:
                against = ["none"] if layer == MAIN else refs
                for ref in against:
                    r = sub[(sub["dataset"] == d) & (sub["method"] == ref)]
                    if r.empty or not math.isfinite(r.iloc[0].get(c, np.nan)):
                        continue
                    a1, a0 = me[c], r.iloc[0][c]
                    ok = a1 >= a0 if hib else a1 <= a0
                    tie = inside_spread(a1, a0, me.get(c + "_sd"), r.iloc[0].get(c + "_sd"))
                    parts.append(
                        f"- {d}, {lab}: {layer} {_fmt(a1, me.get(c + '_sd'))} vs {ref} "
                        f"{_fmt(a0, r.iloc[0].get(c + '_sd'))}: target "
                        f"{'met' if ok else 'MISSED'}"
                        + (" (inside the seed spread)." if tie else ".")
                    )
        parts.append("")
    return parts


def readme_section(
    df: pd.DataFrame, s: pd.DataFrame, command: str | None, stage: str | None = None
) -> str:
    parts = ["## Benchmarks" + (f": {stage}" if stage else ""), ""]
    if stage:
        parts += [STAGES.get(stage, stage), ""]
    parts.append(
        "Generated by `gnnimpute benchmark` from its own output (`results.csv`, one row per "
        "method x dataset x rate x seed). Masking protocol of the GNNImpute paper: for every gene "
        "with more than 3 non-zero cells, floor(rate x nnz) of its non-zero counts are hidden; "
        "scores are on the hidden entries, in normalized-count space (each cell scaled by "
        "median(L)/L_i of the masked counts). Values are mean ± sd over seeds; the best "
        "non-reference value of each column is in bold. Clustering: k-means with k = number of "
        "labels on the PCA of log1p of the imputed values, and Leiden at the resolution giving "
        "that many clusters. Wall time is the method call alone; peak RSS is the peak resident "
        "memory of the separate process that ran the method (interpreter, libraries and input "
        "included)."
    )
    parts += ["", SPREAD_NOTE]
    if (df["protocol"] == "split").any():
        parts += ["", MCV_NOTE]
    parts.append("")
    if command:
        parts += ["Reproduce with:", "", "```sh", command, "```", ""]
    datasets = list(dict.fromkeys(df["dataset"]))
    sim = {d for d in datasets if str(d).startswith("sim")}
    for title, group in (
        ("Real data", [d for d in datasets if d not in sim]),
        ("Simulated data (Splat)", [d for d in datasets if d in sim]),
    ):
        if not group:
            continue
        parts += [f"### {title}", ""]
        for d in group:
            sub = s[s["dataset"] == d]
            n = df[df["dataset"] == d].iloc[0]
            parts += [
                f"#### {d} ({int(n['n_cells'])} cells x {int(n['n_genes'])} genes"
                + (f", labels `{n['label_key']}`)" if isinstance(n.get("label_key"), str) else ")"),
                "",
            ]
            ref = reference_rows(s, d)
            if (
                ref is not None
                and "ari_kmeans" in ref
                and math.isfinite(ref.get("ari_kmeans", np.nan))
            ):
                parts += [
                    f"Unmasked data (reference): k-means ARI {_fmt(ref['ari_kmeans'])}, NMI {_fmt(ref.get('nmi_kmeans'))}; Leiden ARI {_fmt(ref.get('ari_leiden'))}.",
                    "",
                ]
            for rate in sorted(sub[sub["protocol"] == "mask"]["rate"].dropna().unique()):
                parts += [f"Masking rate {rate:g}:", "", summary_table(s, d, "mask", rate), ""]
            for frac in sorted(sub[sub["protocol"] == "split"]["train_frac"].dropna().unique()):
                parts += [
                    f"Molecular cross-validation, train fraction {frac:g}:",
                    "",
                    summary_table(s, d, "split", frac),
                    "",
                ]
    uses = use_tables(s)
    if uses:
        parts += ["### One table per use", "", *uses]
    parts += ["### Reading", ""]
    lines = []
    for d in datasets:
        rates = sorted(s[(s["dataset"] == d) & (s["protocol"] == "mask")]["rate"].dropna().unique())
        for rate in rates:
            lines += compare_to_peers(s, d, rate)
        fracs = s[(s["dataset"] == d) & (s["protocol"] == "split")]["train_frac"].dropna()
        for frac in sorted(fracs.unique()):
            lines += compare_to_peers(s, d, frac, protocol="split")
    parts += lines or ["- (no masking runs)"]
    skipped = s[(s["n_ok"] < s["n_runs"])]
    if not skipped.empty:
        parts += ["", "Not run or failed (never dropped silently):", ""]
        for _, r in skipped.drop_duplicates(["method", "reason"]).iterrows():
            parts.append(f"- {r['method']} on {r['dataset']}: {r['status']} ({r['reason']})")
    parts.append("")
    return "\n".join(parts)
